"""Translation learned from unpaired text (notebook 14): a shared encoder, one decoder per language,
denoising auto-encoding, an adversary on the encoder's codes (the AAE idea) and back-translation.

    Lample, Conneau, Denoyer & Ranzato 2018, "Unsupervised machine translation using monolingual corpora only"
    Artetxe, Labaka, Agirre & Cho 2018, "Unsupervised neural machine translation"
    Lample, Ott, Conneau, Denoyer & Ranzato 2018, "Phrase-based & neural unsupervised machine translation"
    Makhzani et al. 2016, "Adversarial autoencoders" (a discriminator shapes the distribution of codes)

Two "monolingual" corpora: English phrases of one set of numbers, French phrases of a DISJOINT set, so no
sentence pair is ever seen. One encoder reads both languages (each with its own word embeddings) into
codes z; decoder_en and decoder_fr write sentences from codes. Training minimises, per step,

    L_auto = -log p_en(x | enc(C(x)))  - log p_fr(y | enc(C(y)))       denoising auto-encoding
    L_adv  = the encoder fooling D, a classifier of the language of each code vector:
             the codes of both languages are pushed towards one distribution (the AAE idea)
    L_bt   = -log p_en(x | enc(C(fr(x))))  - log p_fr(y | enc(C(en(y))))    back-translation

where C(.) drops and locally shuffles words, and fr(x) is the French translation of x by the previous
round's frozen model (greedy, no gradient). Translation en -> fr = decoder_fr(enc(x)). `use_adversary=False` is the ablation.

The trainer, `train_rounds`, is the published method (Lample et al. 2018, section 2.4): round 1 learns
from the translations of a WORD-BY-WORD model whose dictionary was induced without parallel data
(lexicon.py, Conneau et al. 2018); round k learns from round k-1's FROZEN model; every round also
denoises. (Back-translation with the current model from random weights, the loop an earlier version of
the course ran, does not translate: nothing tells it which English word means which French word.)

The corpora: `monolingual_corpora` draws English and French from two DISJOINT halves of the training
numbers (no number, hence no sentence pair, is in both), with one law for both; "digit-sum"
(P(n) ~ ratio ** digit sum) makes small digits frequent in every position.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from ..data import parallel
from ..data.vocab import BOS_ID, EOS_ID, Vocab, pad_batch
from .seq2seq import Decoder, Encoded, Encoder, beam_decode, eval_mode, greedy_decode


@dataclass
class TranslatorConfig:
    """The shape of an `UnsupervisedTranslator` (the training settings are in `RoundsConfig`)."""
    emb: int = 64                 # word embedding width (one table per language)
    hidden: int = 128             # GRU width of the shared encoder and of each decoder
    dropout: float = 0.1          # dropout in the encoder and the decoders
    seed: int = 0                 # kept for the record; the caller seeds torch before building the model


@dataclass
class Monolingual:
    """Two corpora of unpaired sentences (token lists), their vocabularies, and a paired TEST set."""
    langs: tuple                  # ("en", "fr")
    text: dict                    # lang -> list of token lists (training, unpaired)
    numbers: dict                 # lang -> the numbers behind them (disjoint sets; for checks only)
    vocab: dict                   # lang -> Vocab
    test: list                    # Pair(src=en tokens, tgt=fr tokens): numbers in neither corpus


SAMPLINGS = parallel.SAMPLINGS + ("digit-sum",)


def digit_sum(numbers) -> np.ndarray:
    """s(n): the sum of the decimal digits of each number (s(71280) = 18)."""
    m = np.asarray(numbers, dtype=np.int64).copy()
    s = np.zeros_like(m)
    while (m > 0).any():
        s += m % 10
        m //= 10
    return s


def sample_digit_sum(pool, n: int, rng: np.random.Generator, ratio: float = 0.6) -> np.ndarray:
    """`n` distinct numbers of `pool` with P(n) proportional to ratio ** s(n).

    Equivalently, the six digits of a number (leading zeros included) are independent, each with
    P(d) proportional to ratio ** d: small digits are frequent IN EVERY POSITION, and zeros (which are
    silent) make short, round numbers frequent, as in real text. Without such an asymmetry the two
    corpora could not tell "two" from "three" (notebook 14, section 1)."""
    ratio = checks.in_range("ratio", ratio, 0.0, 1.0, lo_open=True)
    pool = np.asarray(pool)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= len(pool):
        raise ValueError(f"n={n!r} is not allowed; allowed: an integer in 0..{len(pool)} (the size of the pool)")
    w = ratio ** digit_sum(pool).astype(float)
    return np.sort(rng.choice(pool, size=n, replace=False, p=w / w.sum()))


def monolingual_corpora(pair: str = "en-fr", n_each: int = 10000, n_test: int = 500, seed: int = 0,
                        sampling: str = "log", cache_dir=None, ratio: float = 0.6) -> Monolingual:
    """Split the training pool of numbers into two disjoint halves; write one half in each language.

    The test numbers come from the held-out pool of `parallel.split_numbers(seed)`: in neither corpus.
    sampling="log" draws Benford-like numbers (small ones and leading 1s frequent, as in real text);
    "digits" draws every length equally and uniformly within a length (see `parallel.sample_numbers`);
    "digit-sum" draws P(n) ~ ratio ** (sum of n's digits) (`sample_digit_sum`). The test numbers are
    drawn with the same law as the corpora.
    """
    src, tgt = parallel.check_pair(pair)
    checks.one_of("sampling", sampling, SAMPLINGS)
    n_each = checks.positive_int("n_each", n_each)
    n_test = checks.positive_int("n_test", n_test)
    draw = (lambda pool, n, rng: sample_digit_sum(pool, n, rng, ratio)) if sampling == "digit-sum" else \
        (lambda pool, n, rng: parallel.sample_numbers(pool, n, rng, sampling))
    pools = parallel.split_numbers(seed)
    rng = np.random.default_rng(seed + 2)
    train = rng.permutation(pools["train"])
    halves = {src: np.sort(train[0::2]), tgt: np.sort(train[1::2])}        # disjoint by construction
    numbers = {lang: draw(halves[lang], n_each, rng) for lang in (src, tgt)}
    text = {}
    for lang in (src, tgt):
        phrases = parallel._phrases(numbers[lang], lang, cache_dir)
        text[lang] = [parallel.tokenize(p, lang) for p in phrases]
    test_numbers = draw(pools["test"], n_test, rng)
    test = parallel.number_pairs(test_numbers, pair, cache_dir)
    vocab = {lang: Vocab.build(text[lang]) for lang in (src, tgt)}
    return Monolingual((src, tgt), text, numbers, vocab, test)


def add_noise(tokens: list, word_drop: float, shuffle_k: int, rng: np.random.Generator) -> list:
    """C(x) of Lample et al.: drop each word with prob. word_drop, then shuffle locally (each word moves
    by less than shuffle_k places: sort positions i + U(0, shuffle_k))."""
    kept = [t for t in tokens if rng.random() >= word_drop] or tokens[:1]
    if shuffle_k > 1:
        keys = np.arange(len(kept)) + rng.uniform(0, shuffle_k, len(kept))
        kept = [kept[i] for i in np.argsort(keys, kind="stable")]
    return kept


class CodeDiscriminator(nn.Module):
    """D(z) -> logit that a code vector came from the SECOND language; applied to every code vector."""

    def __init__(self, hidden: int, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                                 nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, z):
        return self.net(z).squeeze(-1)


def codes(enc: Encoded):
    """Everything a decoder reads from the encoder: the memory vectors and the initial state.
    Returns (vectors (N, H), one row per real position plus one h0 per sentence)."""
    return torch.cat([enc.memory[enc.mask], enc.h0], dim=0)


def language_bce(la, lb, flip: bool = False):
    """BCE of the code discriminator's logits: codes of language a are labelled 0, of language b 1.
    flip=True gives the encoder's loss, which wants the labels flipped (it tries to fool D)."""
    ya, yb = (torch.ones_like(la), torch.zeros_like(lb)) if flip else (torch.zeros_like(la), torch.ones_like(lb))
    return F.binary_cross_entropy_with_logits(la, ya) + F.binary_cross_entropy_with_logits(lb, yb)


def d_update(D, opt_d, za, zb) -> tuple[float, float]:
    """One step of the code discriminator on detached codes; returns (its loss, its accuracy)."""
    la, lb = D(za.detach()), D(zb.detach())
    loss = language_bce(la, lb)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.item(), ((la < 0).float().mean() + (lb > 0).float().mean()).item() / 2


def model_update(model, opt, loss, clip: float = 1.0) -> None:
    """One step of the translator: backward, clip the gradient norm at `clip`, Adam step."""
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()


class UnsupervisedTranslator(nn.Module):
    """A shared encoder (with one embedding table per language) and one attention decoder per language."""

    def __init__(self, vocab: dict, cfg: TranslatorConfig):
        super().__init__()
        self.langs = tuple(vocab)
        self.vocab = vocab
        self.encoder = Encoder(1, cfg.emb, cfg.hidden, cfg.dropout)         # its own table is unused
        self.embed = nn.ModuleDict({l: nn.Embedding(len(v), cfg.emb, padding_idx=0) for l, v in vocab.items()})
        self.decoders = nn.ModuleDict({l: Decoder(len(v), cfg.emb, cfg.hidden, "general", cfg.dropout)
                                       for l, v in vocab.items()})

    def encode(self, sentences: list, lang: str) -> Encoded:
        src, src_len = pad_batch([self.vocab[lang].encode(s) for s in sentences])
        dev = self.embed[lang].weight.device
        return self.encoder(src.to(dev), src_len.to(dev), embed=self.embed[lang])

    def reconstruction_loss(self, enc: Encoded, targets: list, lang: str):
        """-log p_lang(targets | codes), mean per token (teacher forcing)."""
        dev = enc.memory.device
        tgt_in, _ = pad_batch([[BOS_ID] + self.vocab[lang].encode(t) for t in targets])
        tgt_out, _ = pad_batch([self.vocab[lang].encode(t) + [EOS_ID] for t in targets])
        logits, _, _ = self.decoders[lang](tgt_in.to(dev), enc)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.to(dev).reshape(-1), ignore_index=0)

    def translate(self, sentences: list, src: str, tgt: str, max_len: int = 40, batch_size: int = 500,
                  beam: int = 1) -> list:
        """Token lists in language `src` -> token lists in `tgt`: greedy for beam=1, else the most probable
        of `beam` hypotheses. Beam search compares whole sentences: it can prefer "deux" where greedy
        decoding, one word at a time, goes on to "deux mille deux", a less probable sentence."""
        if isinstance(beam, bool) or not isinstance(beam, (int, np.integer)) or beam < 1:
            raise ValueError(f"beam={beam!r} is not allowed; allowed: a positive integer (1 = greedy)")
        out = []
        with eval_mode(self):
            for i in range(0, len(sentences), batch_size):
                enc = self.encode(sentences[i:i + batch_size], src)
                if beam == 1:
                    ids = greedy_decode(self.decoders[tgt], enc, max_len).tokens
                else:
                    ids = [hyps[0].tokens for hyps in beam_decode(self.decoders[tgt], enc, int(beam), max_len)]
                out.extend(self.vocab[tgt].decode(t) for t in ids)
        return out


# ----------------------------------------------------------------------------- iterative back-translation

@dataclass
class RoundsConfig:
    """Lample et al.'s training in rounds: round k learns from the translations of round k-1's frozen model."""
    emb: int = 64                 # word embedding width (one table per language)
    hidden: int = 128             # GRU width of the shared encoder and of each decoder
    dropout: float = 0.1
    rounds: int = 4               # back-translation rounds; round 1 learns from the word-by-word translations
    steps_per_round: int = 300    # gradient steps per round (each: both languages, every loss)
    batch_size: int = 32          # sentences per language per step
    lr: float = 2e-3              # Adam, encoder and decoders
    lr_d: float = 1e-3            # Adam, code discriminator
    use_adversary: bool = True    # the adversary on the encoder's codes (the AAE idea); False = ablation
    adv_weight: float = 1.0       # weight of the encoder's adversarial loss
    use_backtranslation: bool = True   # False = ablation: denoising (+ adversary) only
    word_drop: float = 0.1        # noise C: probability of dropping each word
    shuffle_k: int = 3            # noise C: a word moves at most k-1 places
    seed: int = 0

    def __post_init__(self):
        for name in ("emb", "hidden", "steps_per_round", "batch_size", "shuffle_k"):
            setattr(self, name, checks.positive_int(f"RoundsConfig.{name}", getattr(self, name)))
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, (int, np.integer)) or self.rounds < 1:
            raise ValueError(f"rounds={self.rounds!r} must be a positive integer (1, 2, ...): the number of "
                             f"back-translation rounds")
        self.rounds = int(self.rounds)
        self.dropout = checks.probability("RoundsConfig.dropout", self.dropout, hi_open=True)
        self.word_drop = checks.probability("RoundsConfig.word_drop", self.word_drop, hi_open=True)
        self.lr = checks.learning_rate("RoundsConfig.lr", self.lr)
        self.lr_d = checks.learning_rate("RoundsConfig.lr_d", self.lr_d)
        self.adv_weight = checks.nonneg_float("RoundsConfig.adv_weight", self.adv_weight)
        self.use_adversary = checks.boolean("RoundsConfig.use_adversary", self.use_adversary)
        self.use_backtranslation = checks.boolean("RoundsConfig.use_backtranslation", self.use_backtranslation)
        self.seed = checks.nonneg_int("RoundsConfig.seed", self.seed)

    def model_config(self) -> TranslatorConfig:
        return TranslatorConfig(emb=self.emb, hidden=self.hidden, dropout=self.dropout, seed=self.seed)


class WordByWord:
    """The first translator of Lample et al. 2018: every word replaced by its dictionary entry.

    dictionaries: {(src, tgt): {source word: target word}} for both directions."""

    def __init__(self, dictionaries: dict):
        for key, dico in dictionaries.items():
            checks.non_empty(f"dictionaries[{key!r}]", dico, "entries")
        self.dictionaries = dictionaries

    def translate(self, sentences: list, src: str, tgt: str, **_) -> list:
        if (src, tgt) not in self.dictionaries:
            raise ValueError(f"(src, tgt)={(src, tgt)!r} is not allowed; allowed: {sorted(self.dictionaries)}")
        from .lexicon import word_by_word
        return word_by_word(sentences, self.dictionaries[(src, tgt)])


def train_rounds(model: UnsupervisedTranslator, data: Monolingual, first, cfg: RoundsConfig, evaluate=None,
                 callbacks=(), desc: str = "round"):
    """Iterative back-translation (Lample et al. 2018, section 2.4; Lample, Ott et al. 2018):

        M(0) = `first` (the word-by-word translator)
        for k = 1..rounds:
            frozen = a copy of M(k-1), never updated during the round
            y_hat = frozen(x) for every English sentence x,  x_hat = frozen(y) for every French y
            steps_per_round steps of
              L = L_auto(x) + L_auto(y)                              denoising auto-encoding
                + [-log p_en(x | enc(C(y_hat)))  - log p_fr(y | enc(C(x_hat)))]   back-translation
                + adv_weight * L_adv                                the code adversary (optional)
            M(k) = the trained model

    The model keeps its weights from round to round; only the pairs are rebuilt from the frozen copy.
    `evaluate(k, model)` (optional) returns a dict logged per round. Returns (history, per-round list).
    """
    if not isinstance(cfg, RoundsConfig):
        raise TypeError(f"cfg={cfg!r} is not allowed; allowed: a RoundsConfig")
    from ..train import DivergenceGuard, loop

    a, b = data.langs
    for lang in (a, b):
        check_sentences(data.text[lang], data.vocab[lang], f"data.text[{lang!r}]")
    rng = np.random.default_rng(cfg.seed)
    dev = next(model.parameters()).device
    D = CodeDiscriminator(cfg.hidden).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
    noise = lambda s: add_noise(s, cfg.word_drop, cfg.shuffle_k, rng)
    fix = lambda s: s if s else ["<unk>"]                 # an empty translation still needs one token
    per_round, history = [], {}
    frozen = first
    for k in range(1, cfg.rounds + 1):
        # the round's batches are drawn first, so that the frozen model translates only the sentences
        # the round will read (not the whole corpus: decoding is the slow part of a round)
        plan = {lang: rng.integers(0, len(data.text[lang]), (cfg.steps_per_round, cfg.batch_size))
                for lang in (a, b)}
        synth = {}
        if cfg.use_backtranslation:                        # the round's pairs, from the frozen model only
            for src, tgt in ((a, b), (b, a)):
                used = np.unique(plan[src]).tolist()
                room = max(len(data.text[src][j]) for j in used) + 6
                out = frozen.translate([data.text[src][j] for j in used], src, tgt, max_len=room)
                synth[src] = {j: fix(t) for j, t in zip(used, out)}

        def step(i):
            model.train()
            ia, ib = plan[a][i], plan[b][i]
            xa, xb = [data.text[a][j] for j in ia], [data.text[b][j] for j in ib]
            enc_a, enc_b = model.encode([noise(s) for s in xa], a), model.encode([noise(s) for s in xb], b)
            loss = model.reconstruction_loss(enc_a, xa, a) + model.reconstruction_loss(enc_b, xb, b)
            logs = {"loss_auto": loss.item()}
            if cfg.use_adversary:
                za, zb = codes(enc_a), codes(enc_b)
                _, logs["d_accuracy"] = d_update(D, opt_d, za, zb)
                loss = loss + cfg.adv_weight * language_bce(D(za), D(zb), flip=True)   # the encoder fools D
            if cfg.use_backtranslation:                    # x from C(frozen(x)), y from C(frozen(y))
                ha, hb = [synth[a][j] for j in ia], [synth[b][j] for j in ib]
                loss_bt = model.reconstruction_loss(model.encode([noise(s) for s in ha], b), xa, a) + \
                    model.reconstruction_loss(model.encode([noise(s) for s in hb], a), xb, b)
                loss = loss + loss_bt
                logs["loss_bt"] = loss_bt.item()
            model_update(model, opt, loss)
            return logs

        guard = DivergenceGuard(model, D, optimizers=[opt, opt_d], hint="lower lr or adv_weight")
        hist = loop(step, cfg.steps_per_round, guard=guard, callbacks=callbacks, every=50, desc=f"{desc} {k}")
        for key, v in hist.items():
            history.setdefault(key, []).extend(v)
        model.eval()
        info = {"round": k}
        if evaluate is not None:
            info.update(evaluate(k, model))
        per_round.append(info)
        frozen = copy.deepcopy(model).eval()               # round k+1 translates with this, frozen
        for p in frozen.parameters():
            p.requires_grad_(False)
    return history, per_round


def check_sentences(text, vocab: Vocab, name: str = "text") -> list:
    """Every sentence non-empty and every token in `vocab` (an <unk> would train silently on nonsense)."""
    from .embeddings import check_corpus
    return check_corpus(text, vocab.itos[4:], name)


# ----------------------------------------------------------------------------- first translators and scores

def dictionaries_from_map(W, vec_src, vec_tgt, k: int = 3, metric: str = "euclidean") -> dict:
    """Both directions' word-by-word dictionaries from one map W (source -> target): CSLS retrieval of
    W x among the target words, and of W^T y among the source words (W is near-orthogonal)."""
    from .lexicon import dictionary, translate_words
    (a, b) = vec_src.lang, vec_tgt.lang
    X, Y = vec_src.vectors, vec_tgt.vectors
    return {(a, b): dictionary(vec_src.words, vec_tgt.words, translate_words(X @ W.T, Y, "csls", k, metric)),
            (b, a): dictionary(vec_tgt.words, vec_src.words, translate_words(Y @ W, X, "csls", k, metric))}


def frequency_rank_dictionaries(vec_src, vec_tgt) -> dict:
    """The baseline without any adversary: the r-th most frequent source word -> the r-th target word."""
    def ranked(v):
        return [v.words[i] for i in np.argsort(-v.counts, kind="stable")]
    rs, rt = ranked(vec_src), ranked(vec_tgt)
    n = min(len(rs), len(rt))
    fwd = {w: rt[min(i, n - 1)] for i, w in enumerate(rs)}
    bwd = {w: rs[min(i, n - 1)] for i, w in enumerate(rt)}
    return {(vec_src.lang, vec_tgt.lang): fwd, (vec_tgt.lang, vec_src.lang): bwd}


def random_dictionaries(vec_src, vec_tgt, seed: int = 0) -> dict:
    """The other baseline: every word mapped to a random word of the other language (seeded)."""
    rng = np.random.default_rng(seed)
    pick = lambda words, other: {w: other[int(rng.integers(len(other)))] for w in words}
    return {(vec_src.lang, vec_tgt.lang): pick(vec_src.words, vec_tgt.words),
            (vec_tgt.lang, vec_src.lang): pick(vec_tgt.words, vec_src.words)}


def score(hyps: list, pairs: list) -> dict:
    """Exact match (%), BLEU on the tokens and chrF on the detokenised phrases (sacrebleu) against pairs."""
    from ..metrics import translation as metrics
    refs = [p.tgt for p in pairs]
    return {"exact": 100 * metrics.exact_match(hyps, refs),
            "bleu": metrics.bleu([" ".join(h) for h in hyps], [" ".join(r) for r in refs], tokenize="none"),
            "chrf": metrics.chrf([parallel.detokenize(h) for h in hyps], [parallel.detokenize(r) for r in refs])}
