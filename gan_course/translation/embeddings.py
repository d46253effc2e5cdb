"""Word vectors from one monolingual corpus: a co-occurrence matrix and its truncated SVD (notebook 14).

    Levy & Goldberg 2014, "Neural word embedding as implicit matrix factorization" (skip-gram factorises
        a shifted PMI matrix; counting and an SVD give comparable vectors)
    Lebret & Collobert 2014, "Word embeddings through Hellinger PCA" (square roots of co-occurrence
        probabilities, then PCA)

The vocabularies of notebook 14 are tiny (about 40 number words a language), so the vectors are counted,
not learned: for every word w and every context c = (offset o, word u) with 1 <= |o| <= window, where u
may be the sentence boundary <s> or </s>,

    C[w, c] = number of times u stands o places from w                          (V, 2 window (V + 2))
    M       = sqrt(C / N)              the Hellinger transform (square roots of counts per sentence, N
                                       sentences; Lebret & Collobert use probabilities C / sum C), or
    M       = max(0, log(C sum C / (C 1) (1^T C)))   positive PMI, transform="ppmi"
    M       = U S V^T,   vectors X = U_d S_d^(1/2)   the d largest singular values        (V, d)

Offsets are kept apart (the word BEFORE "hundred" and the word AFTER it are different contexts), which
is what tells "two" (before "hundred") from "-two" (after "twenty").

Why the Hellinger transform and not PMI here: PMI divides out each word's frequency, and in number
phrases two digits differ mostly in how often they occur (in our corpora small digits are more
frequent), not in which words stand next to them; sqrt(probabilities) keeps the frequency in the vector's
LENGTH. X X^T = U_d S_d U_d^T depends only on M, not on the (arbitrary) basis of the SVD, so the two
languages' vectors can only differ by a rotation where their statistics agree: exactly what an
orthogonal map W (lexicon.py) can undo.

    vecs = train_embeddings(corpus_sentences, vocab_words, dim=12, window=2)
    vecs.vectors          # (V, dim) float64, row i = vecs.words[i]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import checks

TRANSFORMS = ("hellinger", "ppmi")
BOUNDARY = ("<s>", "</s>")


@dataclass
class WordVectors:
    words: list                   # the vocabulary, in the order of the rows
    vectors: np.ndarray           # (V, dim)
    counts: np.ndarray            # (V,) how often each word occurs in the corpus
    lang: str = ""                # the language, for the dictionaries built from these vectors

    def index(self, word: str) -> int:
        try:
            return self.words.index(word)
        except ValueError:
            raise KeyError(f"word={word!r} is not in the vocabulary of {len(self.words)} words") from None

    def __len__(self):
        return len(self.words)


def check_corpus(text, words=None, name: str = "text") -> list:
    """A corpus is a non-empty list of non-empty token lists; with `words`, every token must be one of them."""
    text = checks.non_empty(name, list(text), "sentences")
    known = set(words) if words is not None else None
    for i, s in enumerate(text):
        if isinstance(s, str) or not hasattr(s, "__len__"):
            raise TypeError(f"{name}[{i}]={s!r} is not allowed; allowed: a list of tokens (split the string first)")
        if len(s) == 0:
            raise ValueError(f"{name}[{i}]=[] is not allowed; allowed: a sentence of at least one token "
                             f"(remove the empty line)")
        if known is not None:
            unknown = [t for t in s if t not in known]
            if unknown:
                raise ValueError(f"{name}[{i}] has {unknown[0]!r}, a word outside the vocabulary; allowed: one of "
                                 f"the {len(known)} vocabulary words (build the vocabulary from this corpus)")
    return text


def cooccurrence(text, words, window: int = 2) -> np.ndarray:
    """C[w, (o, u)]: how often word u (or a boundary) stands at offset o from w. Returns (V, 2 window (V + 2))."""
    window = checks.positive_int("window", window)
    words = list(checks.non_empty("words", list(words), "words"))
    text = check_corpus(text, words)
    names = words + list(BOUNDARY)
    idx = {w: i for i, w in enumerate(names)}
    offsets = [o for o in range(-window, window + 1) if o != 0]
    C = np.zeros((len(words), len(offsets), len(names)))
    for s in text:
        ids = [idx[BOUNDARY[0]]] * window + [idx[t] for t in s] + [idx[BOUNDARY[1]]] * window
        for i in range(window, window + len(s)):
            for k, o in enumerate(offsets):
                C[ids[i], k, ids[i + o]] += 1
    return C.reshape(len(words), -1)


def factorise(C: np.ndarray, dim: int, transform: str = "hellinger", n_sentences: int | None = None) -> np.ndarray:
    """The transformed co-occurrence matrix M and its rank-`dim` factor X = U_d S_d^(1/2)  (V, dim).

    Hellinger: M = sqrt(C / n_sentences), counts PER SENTENCE (default: per co-occurrence, C / sum C).
    Per sentence is what makes two corpora of as many sentences comparable when one language spends
    more words on the same numbers ("one hundred and two" vs "cent deux")."""
    dim = checks.positive_int("dim", dim)
    checks.one_of("transform", transform, TRANSFORMS)
    if dim > min(C.shape):
        raise ValueError(f"dim={dim} is not allowed; allowed: 1..{min(C.shape)} (the rank of the {C.shape} "
                         f"co-occurrence matrix)")
    P = C / C.sum()
    if transform == "hellinger":
        M = np.sqrt(C / checks.positive_int("n_sentences", n_sentences)) if n_sentences is not None else np.sqrt(P)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            pmi = np.log(P / (P.sum(1, keepdims=True) * P.sum(0, keepdims=True)))
        M = np.where(np.isfinite(pmi), np.maximum(pmi, 0.0), 0.0)
    U, S, _ = np.linalg.svd(M, full_matrices=False)
    X = U[:, :dim] * np.sqrt(S[:dim])
    return X * np.sign(X[np.abs(X).argmax(0), range(dim)])     # a fixed sign per column: reproducible


def train_embeddings(text, words, dim: int = 12, window: int = 2, transform: str = "hellinger",
                     lang: str = "") -> WordVectors:
    """Vectors for `words` (every token of `text` must be one) from the corpus alone."""
    C = cooccurrence(text, words, window)
    counts = C.sum(1) / (2 * window)
    return WordVectors(list(words), factorise(C, dim, transform, n_sentences=len(text)), counts, lang)


# ----------------------------------------------------------------------------- anchors shared by two corpora

ANCHORS = ("occurrences", "first", "last")


def anchor_features(text, words) -> np.ndarray:
    """For each word, three counts that two corpora describing the same world share, whatever the
    language: how often the word occurs, how often it opens a sentence, how often it closes one; each as
    log((count + 1) / N) with N sentences, so corpora of different sizes compare.   Returns (V, 3).

    In notebook 14 both corpora write numbers drawn from one law, so "two" and "deux" occur about equally
    often, and a number starts with its first digit's word in both languages; "thousand" and "mille" close
    about the same share of sentences (not exactly: the languages differ, e.g. "cent" / "cents"). The
    co-occurrence vectors hold these statistics too (WordVectors.counts is the first), but in each
    language's own SVD basis; here they are coordinates that mean the same thing in both languages."""
    words = list(checks.non_empty("words", list(words), "words"))
    text = check_corpus(text, words)
    idx = {w: i for i, w in enumerate(words)}
    counts = np.zeros((len(words), len(ANCHORS)))
    for s in text:
        for t in s:
            counts[idx[t], 0] += 1
        counts[idx[s[0]], 1] += 1
        counts[idx[s[-1]], 2] += 1
    return np.log((counts + 1) / len(text))


def with_anchors(vecs: dict, texts: dict, weight: float = 5.0) -> dict:
    """Both languages' vectors with the anchor features appended as extra coordinates:

        z_w = [x_w, weight * r / sqrt(3) * (a_w - mean) / sd]

    a_w = anchor_features(...) of word w; mean and sd per feature over the words of BOTH languages (one
    affine map for both, so a coordinate keeps its meaning); r = the mean length of the vectors, so that
    `weight` sets the anchors' share (weight 1: the anchor block is about as long as an average vector; 5,
    notebook 14's value, kept a 74-77 % dictionary over three seeds of its adversary, 3 kept 68-77 %).
    vecs: {lang: WordVectors}; texts: {lang: the corpus the vectors came from}. Returns {lang: WordVectors}."""
    weight = checks.nonneg_float("weight", weight)
    if set(vecs) != set(texts) or len(vecs) != 2:
        raise ValueError(f"vecs has languages {sorted(vecs)} and texts {sorted(texts)}; allowed: the same two "
                         f"languages in both")
    feats = {l: anchor_features(texts[l], vecs[l].words) for l in vecs}
    both = np.concatenate(list(feats.values()))
    mean, sd = both.mean(0), both.std(0) + 1e-12
    r = float(np.mean(np.concatenate([np.linalg.norm(v.vectors, axis=1) for v in vecs.values()])))
    scale = weight * r / np.sqrt(len(ANCHORS))
    return {l: WordVectors(v.words, np.hstack([v.vectors, scale * (feats[l] - mean) / sd]), v.counts, v.lang)
            for l, v in vecs.items()}
