"""Translation, the course's lessons 12-14: one module a lesson.

    seq2seq          GRU encoder-decoder with attention, greedy and beam decoding, the number translators (12)
    nmt_adversarial  adversarial NMT (Wu et al. 2017): a discriminator on (source, translation) pairs (13)
    embeddings       word vectors from one monolingual corpus: co-occurrence counts and an SVD (14)
    lexicon          a dictionary without parallel data: adversarial map, Procrustes, CSLS (Conneau et al. 2018) (14)
    unsup_mt         translation from unpaired sentences: word-by-word start, iterative back-translation (14)
"""
