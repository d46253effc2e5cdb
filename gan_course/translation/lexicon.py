"""A bilingual dictionary without any parallel data: the adversarial map, Procrustes and CSLS (notebook 14).

    Conneau, Lample, Ranzato, Denoyer & Jégou 2018, "Word translation without parallel data" (MUSE;
        facebookresearch/MUSE: src/trainer.py, src/dico_builder.py, src/evaluation/word_translation.py)
    Schönemann 1966, "A generalized solution of the orthogonal Procrustes problem"
    Lample, Conneau, Denoyer & Ranzato 2018, "Unsupervised machine translation using monolingual corpora
        only" (their first translator is word-by-word with this dictionary)

x_i (rows of X, source words) and y_j (rows of Y, target words) are word vectors of two languages,
trained apart (embeddings.py), so their bases are unrelated. The method looks for a linear map W with
W x ~ the vector of x's translation.

1. The adversary (the GAN of this lesson). The generator is W; a discriminator D(v) -> logit that v is a
   MAPPED source vector. With words drawn uniformly from each vocabulary and labels smoothed by s = 0.1,
       L_D = - E_x log D(W x) (1 - s) ...  i.e. BCE(D(W x), 1 - s) + BCE(D(y), s)
       L_W = BCE(D(W x), s) + BCE(D(y), 1 - s)          (W is trained to flip D's answers)
   After each step of W, MUSE pulls W back towards the orthogonal matrices,
       W <- (1 + beta) W - beta (W W^T) W                (beta = 0.001 in MUSE)
   a step of gradient descent on ||W^T W - I||^2 / 4: an orthogonal W keeps distances, so the map can
   only rotate one cloud onto the other, not squash it onto a few French words.
2. Retrieval by CSLS (cross-domain similarity local scaling), against the "hubs" that are near everything:
       CSLS(W x, y) = 2 sim(W x, y) - r_T(W x) - r_S(y),
       r_T(W x) = mean of sim(W x, y') over the k nearest target words y',
       r_S(y)   = mean of sim(W x', y) over the k nearest mapped source words W x'.
   MUSE's sim is the cosine. Our vectors keep each word's frequency in their length (embeddings.py), so
   metric="euclidean" uses sim(a, b) = -||a - b||^2 / 2, which is cos(a, b) - 1 for unit vectors.
3. Refinement: take the MUTUAL nearest neighbours under CSLS (x's best y has x as its best x) as a
   dictionary, and solve the orthogonal Procrustes problem on it,
       W* = argmin_{W^T W = I} sum_(i,j) ||W x_i - y_j||^2 = U V^T   where   U S V^T = SVD(Y_d^T X_d),
   exactly (Schönemann 1966); repeat with the new W's dictionary.
4. Model selection without a dictionary (MUSE's unsupervised criterion): the mean sim(W x, CSLS
   translation of x) over the source words. Several restarts of the adversary; keep the best criterion.

The true lexicon (`true_lexicon`, from num2words) is used ONLY to score precision@1; nothing here
trains on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .. import checks
from ..data import parallel

METRICS = ("cosine", "euclidean")


# ----------------------------------------------------------------------------- the closed forms

def procrustes(A, B) -> np.ndarray:
    """The orthogonal W minimising sum_i ||W a_i - b_i||^2 (rows a_i of A, b_i of B): U V^T of SVD(B^T A)."""
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if A.ndim != 2 or A.shape != B.shape:
        raise ValueError(f"A and B must be (n, d) of the same shape; got {A.shape} and {B.shape}")
    checks.positive_int("the dictionary size (rows of A)", A.shape[0])
    U, _, Vt = np.linalg.svd(B.T @ A)
    return U @ Vt


def orthogonalize(W, beta: float = 0.001):
    """MUSE's update W <- (1 + beta) W - beta (W W^T) W (numpy array or torch tensor, returned new;
    a stack (R, d, d) of matrices is updated matrix by matrix)."""
    beta = checks.nonneg_float("beta", beta)
    return (1 + beta) * W - beta * (W @ W.swapaxes(-1, -2)) @ W


def similarity(X, Y, metric: str = "cosine") -> np.ndarray:
    """sim(x_i, y_j) for all pairs (n, m): cosine, or -||x - y||^2 / 2 (metric="euclidean")."""
    checks.one_of("metric", metric, METRICS)
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    if metric == "cosine":
        return (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (Y / np.linalg.norm(Y, axis=1, keepdims=True)).T
    return -0.5 * ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)


def csls(X, Y, k: int = 3, metric: str = "cosine") -> np.ndarray:
    """CSLS(x_i, y_j) = 2 sim - r_T(x_i) - r_S(y_j) with k-nearest-neighbour means r (n, m)."""
    k = checks.positive_int("k", k)
    S = similarity(X, Y, metric)
    if k > min(S.shape):
        raise ValueError(f"k={k} is not allowed; allowed: 1..{min(S.shape)} (the smaller vocabulary)")
    r_t = np.sort(S, axis=1)[:, -k:].mean(1)          # (n,) each source word's k nearest targets
    r_s = np.sort(S, axis=0)[-k:, :].mean(0)          # (m,) each target word's k nearest sources
    return 2 * S - r_t[:, None] - r_s[None, :]


def translate_words(WX, Y, method: str = "csls", k: int = 3, metric: str = "cosine") -> np.ndarray:
    """For each mapped source vector, the index of its target word: (n,)."""
    checks.one_of("method", method, ("csls", "nn"))
    S = csls(WX, Y, k, metric) if method == "csls" else similarity(WX, Y, metric)
    return S.argmax(1)


def mutual_pairs(WX, Y, k: int = 3, metric: str = "cosine") -> list:
    """MUSE's "S2T&T2S" dictionary: pairs (i, j) where j is i's CSLS best AND i is j's CSLS best."""
    S = csls(WX, Y, k, metric)
    s2t, t2s = S.argmax(1), S.argmax(0)
    return [(i, int(j)) for i, j in enumerate(s2t) if t2s[j] == i]


def criterion(WX, Y, k: int = 3, metric: str = "cosine") -> float:
    """MUSE's unsupervised model-selection score: mean sim(W x, its CSLS translation) over the words."""
    j = translate_words(WX, Y, "csls", k, metric)
    return float(similarity(WX, Y, metric)[np.arange(len(j)), j].mean())


# ----------------------------------------------------------------------------- the adversary

@dataclass
class LexiconConfig:
    steps: int = 2000             # adversarial steps (each: dis_steps of D, one of W)
    dis_steps: int = 5            # D steps per W step (MUSE: 5)
    batch_size: int = 32          # words drawn per language per step (uniformly over the vocabulary)
    lr: float = 0.1               # SGD, W and D (MUSE: 0.1)
    dis_hidden: int = 64          # width of D's two hidden layers (MUSE: 2048 for 300-d vectors)
    dis_dropout: float = 0.1      # dropout on D's input (MUSE: 0.1)
    smooth: float = 0.1           # label smoothing (MUSE: 0.1)
    beta: float = 0.1             # orthogonalisation step (MUSE: 0.001 for 300-d vectors; ours are ~12-d and
                                  # take larger steps, so W is pulled back harder)
    refinements: int = 5          # Procrustes iterations after the adversary
    restarts: int = 5             # independent adversaries; the best by `criterion` is kept
    k: int = 3                    # CSLS neighbourhood (MUSE: 10 for 200,000 words; our vocabularies have ~40)
    metric: str = "euclidean"     # similarity of the retrieval, see the module docstring
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "dis_steps", "batch_size", "dis_hidden", "restarts", "k"):
            setattr(self, name, checks.positive_int(f"LexiconConfig.{name}", getattr(self, name)))
        self.refinements = checks.nonneg_int("LexiconConfig.refinements", self.refinements)
        self.lr = checks.learning_rate("LexiconConfig.lr", self.lr)
        self.dis_dropout = checks.probability("LexiconConfig.dis_dropout", self.dis_dropout, hi_open=True)
        self.smooth = checks.in_range("LexiconConfig.smooth", self.smooth, 0.0, 0.5, hi_open=True)
        self.beta = checks.nonneg_float("LexiconConfig.beta", self.beta)
        checks.one_of("LexiconConfig.metric", self.metric, METRICS)
        self.seed = checks.nonneg_int("LexiconConfig.seed", self.seed)


class LexiconGAN:
    """`games` independent copies of the game, W_r (the generators, d x d) against D_r, run side by side
    as one batch of tensors (R, ...) so that many restarts cost about as much as one on a CPU.

    D_r is MUSE's discriminator, narrower: dropout on the input, two hidden layers with LeakyReLU(0.2),
    one logit that the vector is a MAPPED SOURCE word. Each W_r starts as a random rotation.

        gan = LexiconGAN(X, Y, cfg, games=8)
        for _ in range(cfg.steps): logs = gan.step()
        gan.maps()      # (R, d, d) numpy: source -> target space, one map per game;  gan.W = maps()[0]
    """

    def __init__(self, X, Y, cfg: LexiconConfig, seed: int | None = None, games: int = 1):
        X, Y = np.asarray(X, dtype=np.float32), np.asarray(Y, dtype=np.float32)
        if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
            raise ValueError(f"X and Y must be (n, d) and (m, d) with the same d; got {X.shape} and {Y.shape}")
        self.cfg = cfg
        self.R = R = checks.positive_int("games", games)
        self.gen = g = torch.Generator().manual_seed(cfg.seed if seed is None else seed)
        d, h = X.shape[1], cfg.dis_hidden
        self.X, self.Y = torch.from_numpy(X), torch.from_numpy(Y)
        q, r = torch.linalg.qr(torch.randn(R, d, d, generator=g))
        q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]   # uniform over rotations
        init = lambda *shape: (torch.rand(*shape, generator=g) * 2 - 1) / np.sqrt(shape[-2])
        self.Wmap = q.clone().requires_grad_(True)                                      # (R, d, d)
        self.dis = [init(R, d, h), torch.zeros(R, 1, h), init(R, h, h), torch.zeros(R, 1, h),
                    init(R, h, 1), torch.zeros(R, 1, 1)]
        for t in self.dis:
            t.requires_grad_(True)
        self.opt_w = torch.optim.SGD([self.Wmap], lr=cfg.lr)
        self.opt_d = torch.optim.SGD(self.dis, lr=cfg.lr)

    def maps(self) -> np.ndarray:
        return self.Wmap.detach().numpy().astype(float).copy()

    @property
    def W(self) -> np.ndarray:
        return self.maps()[0]

    def D(self, v, train: bool = False):
        """v (R, n, d) -> logits (R, n), each game with its own discriminator."""
        if train and self.cfg.dis_dropout > 0:
            keep = (torch.rand(v.shape, generator=self.gen) >= self.cfg.dis_dropout).float()
            v = v * keep / (1 - self.cfg.dis_dropout)
        W1, b1, W2, b2, W3, b3 = self.dis
        h = F.leaky_relu(v @ W1 + b1, 0.2)
        h = F.leaky_relu(h @ W2 + b2, 0.2)
        return (h @ W3 + b3).squeeze(-1)

    def _batch(self):
        bs, R = self.cfg.batch_size, self.R
        x = self.X[torch.randint(0, len(self.X), (R, bs), generator=self.gen)]           # (R, bs, d)
        y = self.Y[torch.randint(0, len(self.Y), (R, bs), generator=self.gen)]
        s = self.cfg.smooth
        labels = torch.cat([torch.full((R, bs), 1 - s), torch.full((R, bs), s)], dim=1)  # mapped source: 1 - s
        return x, y, labels

    def _loss(self, logits, labels):
        """Sum over games of each game's mean BCE: every game gets exactly its own gradient."""
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1).sum()

    def d_step(self) -> float:
        x, y, labels = self._batch()
        with torch.no_grad():
            v = torch.cat([x @ self.Wmap.transpose(1, 2), y], dim=1)                    # W x, y
        loss = self._loss(self.D(v, train=True), labels)
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()
        return loss.item() / self.R

    def w_step(self) -> float:
        x, y, labels = self._batch()
        v = torch.cat([x @ self.Wmap.transpose(1, 2), y], dim=1)
        loss = self._loss(self.D(v), 1 - labels)                      # W wants D to get it wrong
        self.opt_w.zero_grad()
        loss.backward()
        self.opt_w.step()
        with torch.no_grad():
            self.Wmap.copy_(orthogonalize(self.Wmap, self.cfg.beta))
        return loss.item() / self.R

    def step(self) -> dict:
        loss_d = [self.d_step() for _ in range(self.cfg.dis_steps)]
        return {"loss_d": float(np.mean(loss_d)), "loss_w": self.w_step()}


# ----------------------------------------------------------------------------- the whole induction

@dataclass
class Induction:
    """The result of `induce`: the kept map, its dictionary, and what every stage did."""
    W: np.ndarray                          # (d, d) the selected map after refinement
    pairs: list                            # the final mutual-nearest-neighbour dictionary (i, j)
    restarts: list = field(default_factory=list)   # per restart: {"criterion_adv", "criterion", "W_adv", "W", ...}
    best: int = 0                          # index of the kept restart

    def translation(self, X, Y, k: int = 3, metric: str = "euclidean") -> np.ndarray:
        return translate_words(X @ self.W.T, Y, "csls", k, metric)


def refine(W, X, Y, iterations: int, k: int = 3, metric: str = "cosine", callback=None) -> tuple:
    """`iterations` rounds of: mutual CSLS pairs under W -> Procrustes. Returns (W, pairs, history)."""
    iterations = checks.nonneg_int("iterations", iterations)
    history = []
    pairs = mutual_pairs(X @ W.T, Y, k, metric)
    for it in range(iterations):
        if not pairs:
            break
        W = procrustes(X[[i for i, _ in pairs]], Y[[j for _, j in pairs]])
        pairs = mutual_pairs(X @ W.T, Y, k, metric)
        history.append({"iteration": it + 1, "pairs": len(pairs), "criterion": criterion(X @ W.T, Y, k, metric),
                        "W": W.copy()})
        if callback is not None:
            callback(it + 1, W)
    return W, pairs, history


def induce(X, Y, cfg: LexiconConfig, callback=None, every: int = 100) -> Induction:
    """MUSE end to end: `cfg.restarts` adversaries (played side by side), each refined by Procrustes;
    the one with the best unsupervised criterion is kept.

    callback(step, gan) is called every `every` adversarial steps (for plots and widgets)."""
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    gan = LexiconGAN(X, Y, cfg, seed=cfg.seed, games=cfg.restarts)
    for t in range(cfg.steps):
        gan.step()
        if callback is not None and (t + 1) % every == 0:
            callback(t + 1, gan)
    runs = []
    for W_adv in gan.maps():
        crit_adv = criterion(X @ W_adv.T, Y, cfg.k, cfg.metric)
        W, pairs, hist = refine(W_adv, X, Y, cfg.refinements, cfg.k, cfg.metric)
        runs.append({"W_adv": W_adv, "criterion_adv": crit_adv, "W": W, "pairs": pairs, "refinements": hist,
                     "criterion": criterion(X @ W.T, Y, cfg.k, cfg.metric),
                     "orthogonality": float(np.abs(W_adv.T @ W_adv - np.eye(len(W_adv))).max())})
    best = int(np.argmax([run["criterion"] for run in runs]))
    return Induction(runs[best]["W"], runs[best]["pairs"], runs, best)


# ----------------------------------------------------------------------------- scoring and word-by-word

def true_lexicon(pair: str = "en-fr") -> dict:
    """FOR SCORING ONLY: source word -> the set of its one-to-one translations, read off num2words.

    A word has one when both languages write it as a single token of the same number: the numbers
    0..99 written as one word on both sides ("seven" / "sept", "sixty" / "soixante"; not "seventy",
    French "soixante-dix"), the last word of k*100 and k*1000 ("hundred" / "cent", "cents"; "thousand"
    / "mille"), and the word that alone tells 20+d from 20+e ("-two" / "-deux"; German "zwei").
    """
    src, tgt = parallel.check_pair(pair)
    tok = lambda n, lang: parallel.tokenize(parallel.number_phrase(n, lang), lang)
    lex = {}
    for n in range(100):
        s, t = tok(n, src), tok(n, tgt)
        if len(s) == 1 and len(t) == 1:
            lex.setdefault(s[0], set()).add(t[0])
    for m in (100, 1000):
        for k in range(1, 10):
            s, t = tok(k * m, src), tok(k * m, tgt)
            if len(s) > 1 or len(t) == 1:
                lex.setdefault(s[-1], set()).add(t[-1])
    for d in range(2, 10):
        e = d % 8 + 2
        s = set(tok(20 + d, src)) - set(tok(20 + e, src))
        t = set(tok(20 + d, tgt)) - set(tok(20 + e, tgt))
        if len(s) == 1 and len(t) == 1:
            lex.setdefault(s.pop(), set()).add(t.pop())
    return lex


def precision_at_1(translation: dict, lexicon: dict) -> float:
    """Share of the lexicon's source words whose translation (a dict word -> word) is one of the true ones."""
    words = [w for w in lexicon]
    checks.non_empty("lexicon", words, "words")
    return float(np.mean([translation.get(w) in lexicon[w] for w in words]))


def dictionary(src_words, tgt_words, translation_idx) -> dict:
    """{source word: target word} from the index array of `translate_words`."""
    return {w: tgt_words[int(j)] for w, j in zip(src_words, translation_idx)}


def word_by_word(sentences, dico: dict) -> list:
    """Translate each token alone with the dictionary (the first translator of Lample et al. 2018)."""
    checks.non_empty("dico", dico, "entries")
    out = []
    for i, s in enumerate(sentences):
        missing = [t for t in s if t not in dico]
        if missing:
            raise ValueError(f"sentences[{i}] has {missing[0]!r}, a word outside the dictionary; allowed: one of "
                             f"its {len(dico)} source words")
        out.append([dico[t] for t in s])
    return out
