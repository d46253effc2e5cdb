"""Vocabularies and padded batches for every text model of the course.

A `Vocab` maps tokens (words, characters or phonemes) to integer ids with four special tokens first:

    <pad>=0  padding, ignored by the losses        <bos>=1  start of a sequence (fed to decoders)
    <eos>=2  end of a sequence                     <unk>=3  any token outside the vocabulary

`encode` then `decode` round-trips any sequence of known tokens. `pad_batch` turns a list of id lists
into a (B, T) LongTensor plus a (B,) tensor of lengths.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


class Vocab:
    """Token <-> id map. Build it with `Vocab.build(sequences, max_size=..., min_count=...)`."""

    def __init__(self, tokens):
        tokens = list(tokens)
        if tokens[:4] != list(SPECIALS):
            tokens = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens must be unique")
        self.itos = tokens
        self.stoi = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, sequences, max_size: int | None = None, min_count: int = 1) -> "Vocab":
        """The `max_size` most frequent tokens (specials included in the count) seen at least `min_count`
        times; ties broken alphabetically so the vocabulary is the same on every machine."""
        if max_size is not None and (not isinstance(max_size, int) or max_size <= len(SPECIALS)):
            raise ValueError(f"max_size must be an integer > {len(SPECIALS)} (the special tokens); got {max_size!r}")
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer; got {min_count!r}")
        counts = Counter(tok for seq in sequences for tok in seq)
        if not counts:
            raise ValueError("sequences is empty: cannot build a vocabulary from no tokens")
        ranked = sorted((t for t, c in counts.items() if c >= min_count and t not in SPECIALS),
                        key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + ranked)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token) -> bool:
        return token in self.stoi

    def encode(self, tokens, add_bos: bool = False, add_eos: bool = False, unknown: str = "unk") -> list[int]:
        """Token list -> id list. unknown="unk" maps unseen tokens to <unk>; "error" raises, naming them."""
        if unknown not in ("unk", "error"):
            raise ValueError(f"unknown={unknown!r}; allowed values: 'unk', 'error'")
        if isinstance(tokens, str):
            raise TypeError("tokens must be a list of tokens (split the string first), not a str")
        if unknown == "error":
            missing = [t for t in tokens if t not in self.stoi]
            if missing:
                raise KeyError(f"tokens outside the vocabulary ({len(self)} tokens): {missing[:10]}")
        ids = [self.stoi.get(t, UNK_ID) for t in tokens]
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids, strip: bool = True) -> list[str]:
        """Id list (or 1-D tensor) -> token list. strip=True drops <bos>/<pad> and stops at <eos>."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"ids must be 1-D; got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        out = []
        for i in ids:
            if not 0 <= int(i) < len(self):
                raise ValueError(f"id {i} is outside the vocabulary (0..{len(self) - 1})")
            if strip and i == EOS_ID:
                break
            if strip and i in (PAD_ID, BOS_ID):
                continue
            out.append(self.itos[int(i)])
        return out

    def save(self, path) -> None:
        from ..checkpoint import write_text

        write_text(path, json.dumps(self.itos, ensure_ascii=False))      # atomic: a crash leaves the old file

    @classmethod
    def load(cls, path) -> "Vocab":
        return cls(json.loads(Path(path).read_text()))


def pad_batch(seqs, pad_id: int = PAD_ID, max_len: int | None = None):
    """List of id lists -> (tokens (B, T) long, lengths (B,) long); T = longest (or max_len, truncating)."""
    if len(seqs) == 0:
        raise ValueError("seqs is empty: a batch needs at least one sequence")
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1):
        raise ValueError(f"max_len={max_len!r} is not allowed; allowed: None (no truncation) or a positive integer")
    lens = [min(len(s), max_len) if max_len else len(s) for s in seqs]
    T = max(max(lens), 1)
    out = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    for i, (s, n) in enumerate(zip(seqs, lens)):
        out[i, :n] = torch.as_tensor(list(s)[:n], dtype=torch.long)
    return out, torch.tensor(lens, dtype=torch.long)
