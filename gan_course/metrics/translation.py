"""Translation metrics: BLEU and chrF (sacrebleu), exact match, and edit-distance error rates.

    Papineni et al. 2002, "BLEU: a method for automatic evaluation of machine translation"
    Popović 2015, "chrF: character n-gram F-score for automatic MT evaluation"
    Post 2018, "A call for clarity in reporting BLEU scores" (sacrebleu)

BLEU and chrF are sacrebleu's corpus scores, not re-implemented here (scores computed by hand are the
classic source of numbers that cannot be compared). Inputs are strings; `references` is either one string
per hypothesis or a list of acceptable strings per hypothesis (CMUdict words with two pronunciations).

    bleu(hyps, refs)                       # 0..100, sacrebleu.corpus_bleu
    bleu(hyps, refs, tokenize="none")      # the strings are already tokenised (pieces split by spaces)
    chrf(hyps, refs)                       # 0..100, sacrebleu.corpus_chrf
    exact_match(hyps, refs)                # fraction of hypotheses equal to one of their references
    token_error_rate(hyp_tokens, ref_tokens)   # sum of edit distances / sum of reference lengths

`token_error_rate` is the word error rate (WER) of speech recognition when the tokens are words and the
phoneme error rate (PER) of grapheme-to-phoneme conversion when they are phonemes. Beware: in G2P papers
(Yao & Zweig 2015) "WER" means the fraction of WORDS whose pronunciation has any error, i.e.
1 - exact_match over pronunciations; `g2p_wer` computes that.
"""
from __future__ import annotations

import sacrebleu


def _not_one_string(name: str, items) -> list:
    """`items` as a list; a bare str is refused (iterating it would score its characters, silently)."""
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{name} must be a list of sentences, got str {items[:40]!r}; allowed: a list with one "
                        f"item per sentence (wrap one sentence as [sentence])")
    return list(items)


def _string_refs(hypotheses, references) -> tuple[list[str], list[list[str]]]:
    hyps = _not_one_string("hypotheses", hypotheses)
    references = _not_one_string("references", references)
    if not all(isinstance(h, str) for h in hyps):
        raise TypeError("hypotheses must be strings (join tokens with spaces first)")
    refs = []
    for r in references:
        r = [r] if isinstance(r, str) else list(r)
        if not r or not all(isinstance(x, str) for x in r):
            raise TypeError("references must be strings, or lists of strings (several references per item)")
        refs.append(r)
    if len(refs) != len(hyps):
        raise ValueError(f"references has {len(refs)} items but there are {len(hyps)} hypotheses")
    if not hyps:
        raise ValueError("hypotheses is empty: nothing to score")
    return hyps, refs


_TOKENIZERS = ("none", "zh", "13a", "intl", "char", "ja-mecab", "ko-mecab", "flores101", "flores200")


def _ref_streams(refs: list[list[str]]) -> list[list[str]]:
    """sacrebleu wants one stream per reference index; items with fewer references repeat their first."""
    n = max(len(r) for r in refs)
    return [[r[i] if i < len(r) else r[0] for r in refs] for i in range(n)]


def bleu(hypotheses, references, tokenize: str = "13a") -> float:
    """Corpus BLEU (0..100) with sacrebleu's defaults; tokenize="none" for pre-tokenised strings."""
    from .. import checks

    checks.one_of("tokenize", tokenize, _TOKENIZERS)
    hyps, refs = _string_refs(hypotheses, references)
    return float(sacrebleu.corpus_bleu(hyps, _ref_streams(refs), tokenize=tokenize).score)


def chrf(hypotheses, references) -> float:
    """Corpus chrF (0..100): character n-gram F-score (n <= 6, beta = 2), sacrebleu's defaults."""
    hyps, refs = _string_refs(hypotheses, references)
    return float(sacrebleu.corpus_chrf(hyps, _ref_streams(refs)).score)


def _alternatives(hyp, ref) -> list:
    """The acceptable answers for one item. String hypotheses: ref is a str or a list of str.
    Token-list hypotheses: ref is a token list or a list of token lists."""
    if isinstance(hyp, str):
        alts = [ref] if isinstance(ref, str) else list(ref)
        if not alts or not all(isinstance(a, str) for a in alts):
            raise TypeError(f"with string hypotheses a reference must be a str or a list of str; got {ref!r}")
        return alts
    if isinstance(ref, str):
        raise TypeError("with token-list hypotheses the references must be token lists, not strings")
    ref = list(ref)
    if ref and all(isinstance(a, (list, tuple)) for a in ref):
        return [list(a) for a in ref]
    return [ref]


def _check_lengths(hyps, refs):
    if len(hyps) != len(refs):
        raise ValueError(f"references has {len(refs)} items but there are {len(hyps)} hypotheses")
    if not hyps:
        raise ValueError("hypotheses is empty: nothing to score")


def exact_match(hypotheses, references) -> float:
    """Fraction of hypotheses equal to (one of) their reference(s); strings or token lists."""
    hyps, refs = _not_one_string("hypotheses", hypotheses), _not_one_string("references", references)
    _check_lengths(hyps, refs)
    hits = 0
    for h, r in zip(hyps, refs):
        h = h if isinstance(h, str) else list(h)
        hits += any(h == a for a in _alternatives(h, r))
    return hits / len(hyps)


def edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences (insertions, deletions, substitutions cost 1)."""
    a, b = list(a), list(b)
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def token_error_rate(hypotheses, references) -> float:
    """sum_i min_ref edit_distance(hyp_i, ref) / sum_i len(that ref): WER over words, PER over phonemes.

    hypotheses: token lists; references: a token list per hypothesis, or a list of token lists (the
    closest one counts, as in G2P evaluation with several pronunciations).
    """
    hyps, refs = _not_one_string("hypotheses", hypotheses), _not_one_string("references", references)
    _check_lengths(hyps, refs)
    errors = length = 0
    for h, r in zip(hyps, refs):
        if isinstance(h, str):
            raise TypeError("token_error_rate takes token lists, not strings (split them first)")
        d, n = min((edit_distance(h, a), len(a)) for a in _alternatives(list(h), r))
        errors += d
        length += n
    if length == 0:
        raise ValueError("the references are all empty: the error rate is undefined")
    return errors / length


def g2p_wer(hypotheses, references) -> float:
    """G2P word error rate: the fraction of words whose predicted pronunciation matches no reference."""
    return 1.0 - exact_match(hypotheses, references)
