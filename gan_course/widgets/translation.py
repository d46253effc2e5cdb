"""Translation widgets (notebooks 12-14): type a number or a phrase, see the n-best translations and the
attention heat map of the best one; a slider sets the beam width.

    explorer = translation_explorer(model, src_vocab, tgt_vocab, to_tokens=number_source("en", src_vocab),
                                    detok=parallel.detokenize, default="71 280")

Headless (run-all, nbval, the web view) it draws the figure once, for the default input.
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import torch

from ..data import parallel
from ..data.vocab import pad_batch
from . import interactive_plot, slider


def number_source(src_lang: str, src_vocab):
    """A `to_tokens` for number translators: '71280', '71,280' or '71 280' -> the phrase's tokens;
    any other text is read as a phrase in `src_lang` and every word must be in the vocabulary."""
    def to_tokens(text: str) -> list[str]:
        text = (text or "").strip().lower()
        if not text:
            raise ValueError("type a number (0..999,999) or a phrase")
        if re.fullmatch(r"[+-]?[\d ,_.']+", text):
            digits = re.sub(r"[ ,_.']", "", text)
            return parallel.tokenize(parallel.number_phrase(int(digits), src_lang), src_lang)
        tokens = parallel.tokenize(text, src_lang)
        return check_known(tokens, src_vocab)
    return to_tokens


def char_source(src_vocab):
    """A `to_tokens` for spelling -> phonemes: a word's letters, each of which must be known."""
    def to_tokens(text: str) -> list[str]:
        text = (text or "").strip().lower()
        if not text:
            raise ValueError("type a word")
        return check_known(list(text), src_vocab)
    return to_tokens


def check_known(tokens, vocab) -> list[str]:
    """Refuse tokens the model never saw, naming them (an <unk> would give a silently wrong answer)."""
    unknown = [t for t in tokens if t not in vocab]
    if unknown:
        known = ", ".join(t for t in vocab.itos[4:40])
        raise ValueError(f"not in the vocabulary: {', '.join(map(repr, unknown))}. Known tokens include: {known} ...")
    return list(tokens)


def plot_attention(ax, weights, src_tokens, tgt_tokens, title: str = ""):
    """Heat map of attention weights (T, S): row t = where the decoder looked when writing token t."""
    w = weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else weights
    ax.imshow(w, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(src_tokens)))
    ax.set_xticklabels(src_tokens, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(tgt_tokens)))
    ax.set_yticklabels(tgt_tokens, fontsize=8)
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize=9)


def translate_with_attention(model, src_tokens, src_vocab, tgt_vocab, beam: int = 1, max_len: int = 40):
    """One source -> the n-best list [(tokens, log p, attention (T+1, S))], best first."""
    device = next(model.parameters()).device
    src, src_len = pad_batch([src_vocab.encode(src_tokens)])
    hyps = model.beam(src.to(device), src_len.to(device), beam=beam, max_len=max_len)[0]
    return [(tgt_vocab.decode(h.tokens), h.score, h.attention) for h in hyps]


def translation_explorer(model, src_vocab, tgt_vocab, to_tokens, detok=" ".join, default: str = "71280",
                         max_beam: int = 8, headless=None):
    """Text box + beam slider on top; the n-best list and the attention heat map of the best below."""
    import ipywidgets as w

    def draw(fig, text, beam):
        try:
            src_tokens = to_tokens(text)
        except (ValueError, TypeError) as exc:           # a clear message instead of a traceback
            ax = fig.add_subplot(111)
            ax.axis("off")
            ax.text(0.0, 0.5, f"{exc}", wrap=True, fontsize=9, color="firebrick", va="center")
            return
        nbest = translate_with_attention(model, src_tokens, src_vocab, tgt_vocab, beam=beam)
        tokens, score, att = nbest[0]
        ax = fig.add_subplot(1, 2, 1)
        plot_attention(ax, att, src_tokens, tokens + ["<eos>"], title="attention of the best hypothesis")
        side = fig.add_subplot(1, 2, 2)
        side.axis("off")
        lines = [f"{i + 1}. {detok(t)}   (log p = {s:.2f})" for i, (t, s, _) in enumerate(nbest)]
        side.text(0.0, 1.0, f"source: {detok(src_tokens)}\n\n" + "\n".join(lines), va="top", fontsize=8,
                  wrap=True, family="monospace")

    text = w.Text(value=default, description="source", style={"description_width": "initial"})
    return interactive_plot(draw, figsize=(9.0, 3.6), headless=headless, text=text,
                            beam=slider(1, 1, max_beam, 1, "beam width"))


def show_attention(model, pairs, src_vocab, tgt_vocab, detok=" ".join, cols: int = 2):
    """A static grid of heat maps for a few pairs (greedy decoding)."""
    n = len(pairs)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), squeeze=False)
    for ax, p in zip(axes.ravel(), pairs):
        tokens, _, att = translate_with_attention(model, p.src, src_vocab, tgt_vocab, beam=1)[0]
        ok = "correct" if parallel.detokenize(tokens) == parallel.detokenize(p.tgt) else "WRONG"
        plot_attention(ax, att, p.src, tokens + ["<eos>"], title=f"{p.key}: {ok}")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
