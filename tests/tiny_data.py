"""Tiny data and models shared by the determinism and divergence tests: every trainer's input at a size
that trains in a fraction of a second."""
import torch

from gan_course.translation import unsup_mt
from gan_course.data.parallel import Pair
from gan_course.data.vocab import BOS_ID, EOS_ID, Vocab
from gan_course.models import sentence_vae
from gan_course.models.oracle import SeqGenConfig, SeqGenerator
from gan_course.models.text_gan import CNNConfig, CNNDiscriminator

SEED = 0
V = 12          # vocabulary of the tiny sentence corpora, the 4 special tokens included


def tiny_sentences(n=32, seed=0):
    """n id lists <bos> w_1..w_L <eos>, 1 <= L <= 4, words 4..V-1 (the shape every text model reads)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        length = int(torch.randint(1, 5, (1,), generator=g))
        out.append([BOS_ID] + torch.randint(4, V, (length,), generator=g).tolist() + [EOS_ID])
    return out


def tiny_images(n=64, seed=0):
    """n random 8x8 'digits': grey levels 0..16 (int64) and labels 0..9."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n, 64), generator=g), torch.randint(0, 10, (n,), generator=g)


def tiny_pairs(n=64, seed=0):
    """A translation task small enough to learn: reverse a string of 2-5 digits. Returns (pairs, vocab)."""
    g = torch.Generator().manual_seed(seed)
    vocab = Vocab([str(i) for i in range(6)])
    pairs = []
    for _ in range(n):
        length = int(torch.randint(2, 6, (1,), generator=g))
        s = [str(int(x)) for x in torch.randint(0, 6, (length,), generator=g)]
        pairs.append(Pair(s, s[::-1]))
    return pairs, vocab


def tiny_seq_gan(T=5):
    """SeqGAN's generator (an LSTM) and CNN discriminator at a toy size, and 64 'real' sequences."""
    torch.manual_seed(SEED)
    G = SeqGenerator(SeqGenConfig(vocab_size=V, seq_len=T, emb=8, hidden=8))
    D = CNNDiscriminator(CNNConfig(vocab_size=V, seq_len=T, emb=8, filter_sizes=(2, 3), num_filters=(8, 8)))
    real = torch.randint(0, V, (64, T), generator=torch.Generator().manual_seed(1))
    return G, D, real


def sentence_vae_config(**kw):
    return sentence_vae.SentenceVAEConfig(**{**dict(vocab_size=V, emb=8, hidden=16, d_z=3, steps=4, batch_size=8),
                                             **kw})


def tiny_monolingual():
    """Two unpaired 'languages': digit strings written with words a0..a5 and with words b0..b5."""
    g = torch.Generator().manual_seed(2)
    text = {"a": [], "b": []}
    for lang in text:
        for _ in range(40):
            length = int(torch.randint(1, 4, (1,), generator=g))
            text[lang].append([f"{lang}{int(d)}" for d in torch.randint(0, 6, (length,), generator=g)])
    vocab = {lang: Vocab.build(text[lang]) for lang in text}
    return unsup_mt.Monolingual(("a", "b"), text, {}, vocab, [])
