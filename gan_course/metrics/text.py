"""Metrics for text generators: NLL_oracle, NLL_test, BLEU and Self-BLEU, forward/reverse perplexity.

Likelihood metrics (nats per token; lower is better):
    NLL_oracle  the oracle's NLL of the generator's samples -- quality (SeqGAN, Yu et al. 2017)
    NLL_test    the generator's NLL of held-out real data    -- coverage (Texygen, Zhu et al. 2018)
    forward perplexity  exp(NLL of samples under an LM trained on real data)   -- quality
    reverse perplexity  exp(NLL of real test data under an LM trained on the samples) -- coverage
                        (Zhao et al. 2018, ARAE; Cífka et al. 2018)

BLEU and Self-BLEU follow Texygen's definitions (Zhu et al. 2018, utils/metrics/Bleu.py, SelfBleu.py):
    BLEU-n      the mean over generated sentences of the sentence-level BLEU of each one against the
                whole reference set (Texygen: the first 500 real sentences) -- quality
    Self-BLEU-n the mean over generated sentences (Texygen: the first 500) of the BLEU of each one
                against all the *other* generated sentences -- high = low diversity
with uniform weights over 1..n-grams and NLTK's smoothing "method1" (a zero n-gram match count becomes
0.1). The scores are computed by sacrebleu (Post 2018), not by hand: `BLEU(tokenize='none',
smooth_method='floor', smooth_value=0.1, max_ngram_order=n, effective_order=False)` on space-joined
tokens, which is the same smoothing (floor 0.1 = method1) and the same brevity penalty (closest
reference length, ties to the shorter). Scores are reported in [0, 1] like Texygen (sacrebleu's / 100).

Variable-length text: a hypothesis shorter than n tokens has no n-grams of order n. sacrebleu then
scores the sentence 0; NLTK (hence Texygen) counts that precision as 0/1 and smooths it to 0.1/1. The
n-gram counts here come from sacrebleu, but the score is combined NLTK's way (`_texygen_score`), so
BLEU and Self-BLEU equal Texygen's for sentences of any length (tests/test_text.py checks both against
an independent implementation of NLTK's formula). On 2-12-token lines the two conventions differ by
about 0.04 in BLEU-4 -- the difference falls on short, collapsed outputs.
Counts matter too: BLEU rises with more references and Self-BLEU with more samples, so scores are
comparable only at equal counts (Texygen: 500 and 500).

For speed, the reference n-grams are extracted once (sacrebleu's own `_extract_reference_info`) and every
hypothesis's n-grams are counted with sacrebleu's `_compute_segment_statistics` and scored by `_texygen_score`; for
Self-BLEU the leave-one-out maximum counts come from the top-2 counts per n-gram. tests/test_text.py checks
that every score equals `sacrebleu.sentence_bleu` called the slow public way where every hypothesis has
at least n tokens, and NLTK's formula on sentences of any length.
"""
from __future__ import annotations

import math
from collections import Counter

import torch

SMOOTH_VALUE = 0.1  # NLTK SmoothingFunction().method1's epsilon, used by Texygen


def _as_strings(seqs, name: str = "hypotheses") -> list[str]:
    """(n, T) tensor of ids, list of token lists, or list of space-joined strings -> list of strings."""
    if isinstance(seqs, (str, bytes)):   # iterating it would score characters, silently
        raise TypeError(f"{name} must be a list of sentences, got str {seqs[:40]!r}; allowed: a list of strings, "
                        f"of token lists, or an (n, T) tensor of ids (wrap one sentence as [sentence])")
    if isinstance(seqs, torch.Tensor):
        if seqs.dim() != 2:
            raise ValueError(f"a tensor of sequences must be (n, T); got shape {tuple(seqs.shape)}")
        seqs = seqs.tolist()
    seqs = list(seqs)
    out = []
    for s in seqs:
        if isinstance(s, str):
            out.append(" ".join(s.split()))
        else:
            out.append(" ".join(str(t) for t in s))
    return out


def bleu_scorer(max_order: int = 4):
    """The sacrebleu BLEU object with Texygen's settings (no tokenisation, floor smoothing 0.1)."""
    from sacrebleu.metrics import BLEU

    if not isinstance(max_order, int) or not 1 <= max_order <= 9:
        raise ValueError(f"max_order must be an integer n-gram order in 1..9; got {max_order!r}")
    return BLEU(tokenize="none", smooth_method="floor", smooth_value=SMOOTH_VALUE,
                max_ngram_order=max_order, effective_order=False)


def _texygen_score(stats: list, max_order: int) -> float:
    """NLTK's sentence_bleu with SmoothingFunction().method1 (Texygen's call), from sacrebleu's counts.

    stats = [c, r, m_1..m_N, t_1..t_N]: hypothesis length c, closest reference length r (ties to the
    shorter), matched and total n-grams of each order. Then, in [0, 1]:
        p_n  = m_n / t_n                    if m_n > 0
             = 0.1 / max(t_n, 1)            otherwise (method1; t_n = 0 when c < n)
        BLEU = BP * exp(mean_n log p_n),  BP = 1 if c > r else exp(1 - r / c)   (0 if c = 0)
        BLEU = 0 if no unigram matches (NLTK's early exit).
    """
    c, r = stats[0], stats[1]
    matched, total = stats[2:2 + max_order], stats[2 + max_order:2 + 2 * max_order]
    if c == 0 or matched[0] == 0:
        return 0.0
    log_p = sum(math.log(m / t if m > 0 else SMOOTH_VALUE / max(t, 1)) for m, t in zip(matched, total))
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return bp * math.exp(log_p / max_order)


def _closest_lens(lens: Counter) -> list[int]:
    return [n for n, c in lens.items() if c > 0]


def bleu(hypotheses, references, max_order: int = 4) -> float:
    """Texygen's BLEU-n: mean over hypotheses of sentence BLEU against the whole reference set, in [0, 1]."""
    hyps, refs = _as_strings(hypotheses, "hypotheses"), _as_strings(references, "references")
    if not hyps:
        raise ValueError("hypotheses is empty: nothing to score")
    if not refs:
        raise ValueError("references is empty: BLEU needs at least one reference sentence")
    scorer = bleu_scorer(max_order)
    info = scorer._extract_reference_info(refs)  # max count of every reference n-gram, computed once
    info = {"ref_ngrams": info["ref_ngrams"], "ref_lens": sorted(set(info["ref_lens"]))}
    total = 0.0
    for h in hyps:
        total += _texygen_score(scorer._compute_segment_statistics(h, info), max_order)
    return total / len(hyps)


def self_bleu(samples, max_order: int = 4) -> float:
    """Texygen's Self-BLEU-n: mean over samples of BLEU against all the other samples, in [0, 1]."""
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    segs = _as_strings(samples, "samples")
    if len(segs) < 2:
        raise ValueError(f"samples must hold at least 2 sentences for Self-BLEU; got {len(segs)}")
    scorer = bleu_scorer(max_order)
    grams, sizes, lens = [], [], Counter()
    top1, n_top1, top2 = Counter(), Counter(), Counter()  # per n-gram: best count, how many hold it, 2nd best
    for s in segs:
        g, n = extract_all_word_ngrams(s, 1, max_order)
        grams.append(g)
        sizes.append(n)
        lens[n] += 1
        for k, c in g.items():
            if c > top1[k]:
                top2[k] = top1[k] if n_top1[k] else top2[k]
                top1[k], n_top1[k] = c, 1
            elif c == top1[k]:
                n_top1[k] += 1
            elif c > top2[k]:
                top2[k] = c
    total = 0.0
    for s, g, n in zip(segs, grams, sizes):
        # the reference max counts without this sentence: the 2nd best where it alone held the best
        ref = {k: (top2[k] if c == top1[k] and n_top1[k] == 1 else top1[k]) for k, c in g.items()}
        ref = {k: v for k, v in ref.items() if v > 0}
        lens[n] -= 1
        stats = scorer._compute_segment_statistics(s, {"ref_ngrams": ref, "ref_lens": _closest_lens(lens)})
        lens[n] += 1
        total += _texygen_score(stats, max_order)
    return total / len(segs)


# ----------------------------------------------------------------------------------------------------
# likelihood metrics

def nll_oracle(oracle, samples, batch_size: int = 500) -> float:
    """NLL_oracle: the oracle's mean NLL per token of a generator's samples (n, T). Quality; lower is better."""
    return float(oracle.nll(samples, batch_size=batch_size))


def nll_test(model, test, batch_size: int = 500) -> float:
    """NLL_test: the model's mean NLL per token of held-out real data. Coverage; lower is better.

    model: a SeqGenerator (test: (n, T) tensor) or a LanguageModel (test: id lists [<bos>, ..., <eos>]).
    """
    if hasattr(model, "log_probs"):
        return float(model.nll(test, batch_size=batch_size))
    from ..models.lm import nll_per_token

    return nll_per_token(model, test, batch_size=batch_size)


def mean_se(values) -> tuple[float, float]:
    """(mean, standard error) of per-sequence values: SE = SD / sqrt(n), with the n - 1 SD (needs n >= 2).

    The uncertainty of an NLL estimated from n sampled or held-out sequences; two models' numbers that
    differ by less than about 2 SE of their difference are not told apart by the measurement."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() < 2:
        raise ValueError(f"values has {v.numel()} element(s); allowed: at least 2 (an SE needs a spread)")
    return v.mean().item(), (v.std(unbiased=True) / math.sqrt(v.numel())).item()


def curve_gap(point: dict, curve: list) -> dict | None:
    """A model against an MLE temperature curve (Caccia et al. 2018): the NLL_test gap at equal NLL_oracle.

    point: {"nll_oracle": q, "nll_test": c} with optional "nll_oracle_se", "nll_test_se";
    curve: such dicts, one per temperature. With the curve sorted by NLL_oracle, c_curve(q) interpolates
    linearly between the two curve points q_0 <= q <= q_1 (weights 1 - w and w, w = (q - q_0)/(q_1 - q_0)),

        gap   = c - c_curve(q)                       > 0: MLE covers the data better at equal quality
        se^2  = se_c^2 + (1-w)^2 se_c0^2 + w^2 se_c1^2 + s^2 (se_q^2 + (1-w)^2 se_q0^2 + w^2 se_q1^2)

    to first order, s = (c_1 - c_0)/(q_1 - q_0) the curve's slope, every estimate independent (each from
    its own samples; conservative where two share the test set). A missing SE counts as 0. Returns
    {"gap", "se", "c_curve"}, or None when q lies outside the curve's range."""
    for name, r in [("point", point)] + [(f"curve[{i}]", r) for i, r in enumerate(curve)]:
        if not isinstance(r, dict) or not {"nll_oracle", "nll_test"} <= set(r):
            raise ValueError(f"{name}={r!r} is not allowed; allowed: a dict with 'nll_oracle' and 'nll_test' "
                             f"(and optionally 'nll_oracle_se', 'nll_test_se')")
    q, c = float(point["nll_oracle"]), float(point["nll_test"])
    pts = sorted(curve, key=lambda r: r["nll_oracle"])
    if len(pts) < 2:
        raise ValueError(f"curve has {len(pts)} point(s); allowed: at least 2 temperatures")
    if not pts[0]["nll_oracle"] <= q <= pts[-1]["nll_oracle"]:
        return None
    i = next(k for k in range(len(pts) - 1) if pts[k]["nll_oracle"] <= q <= pts[k + 1]["nll_oracle"])
    a, b = pts[i], pts[i + 1]
    span = b["nll_oracle"] - a["nll_oracle"]
    w = (q - a["nll_oracle"]) / span if span > 0 else 0.0
    slope = (b["nll_test"] - a["nll_test"]) / span if span > 0 else 0.0
    c_curve = (1 - w) * a["nll_test"] + w * b["nll_test"]
    se = lambda r, k: float(r.get(f"{k}_se", 0.0) or 0.0)
    var = (se(point, "nll_test") ** 2 + (1 - w) ** 2 * se(a, "nll_test") ** 2 + w ** 2 * se(b, "nll_test") ** 2
           + slope ** 2 * (se(point, "nll_oracle") ** 2 + (1 - w) ** 2 * se(a, "nll_oracle") ** 2
                           + w ** 2 * se(b, "nll_oracle") ** 2))
    return {"gap": c - c_curve, "se": math.sqrt(var), "c_curve": c_curve}


def forward_perplexity(lm, sample_seqs, batch_size: int = 512) -> float:
    """exp(NLL per token of generated id lists under `lm`, a LanguageModel trained on real data)."""
    from ..models.lm import nll_per_token

    return math.exp(nll_per_token(lm, sample_seqs, batch_size=batch_size))


def reverse_perplexity(sample_seqs, real_seqs, config, steps: int = 500, batch_size: int = 64,
                       lr: float = 3e-3, seed: int = 0, device=None) -> float:
    """exp(NLL per token of real held-out id lists under a fresh LanguageModel(config) trained on the
    generated id lists for `steps` batches). A generator that drops modes of the data scores badly."""
    from ..models.lm import LanguageModel, fit, nll_per_token

    if not sample_seqs:
        raise ValueError("sample_seqs is empty: reverse perplexity trains a model on the samples")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LanguageModel(config)
    if device is not None:
        model.to(device)
    fit(model, sample_seqs, steps, batch_size=batch_size, lr=lr, seed=seed, device=device)
    return math.exp(nll_per_token(model, real_seqs))
