"""Lexicon-induction widget (notebook 14): step the adversary, see both word clouds and, for every English
word, its nearest French word under the current map W.

    lexicon_stepper(X, Y, src_words, tgt_words, cfg, lexicon=true_lex, steps=1000, every=100)

One game of `lexicon.LexiconGAN` is played once, with a snapshot of W every `every` steps; the slider
picks a snapshot (so moving it is instant). `lexicon` (the true one, FOR DISPLAY ONLY) colours a word
green when its nearest French word is right. Headless (run-all, nbval, the web view) it draws the last
snapshot once, so the saved notebook shows a static figure.
"""
from __future__ import annotations

import numpy as np

from . import interactive_plot, slider


def snapshots(X, Y, cfg, steps: int, every: int, seed: int = 0) -> list:
    """[(step, W)] for step = 0, every, 2 every, ..., steps of one adversarial game."""
    from ..translation.lexicon import LexiconGAN

    gan = LexiconGAN(X, Y, cfg, seed=seed, games=1)
    out = [(0, gan.W)]
    for t in range(1, steps + 1):
        gan.step()
        if t % every == 0:
            out.append((t, gan.W))
    return out


def draw_alignment(fig, X, Y, W, src_words, tgt_words, lexicon=None, k: int = 3, metric: str = "euclidean",
                   title: str = ""):
    """Left: the 2-D projection (PCA of the French vectors) of W x (blue) and y (orange), words labelled.
    Right: each English word -> its CSLS-nearest French word (green: right, red: wrong, grey: no 1-1 word)."""
    from ..translation.lexicon import translate_words

    fig.clear()
    ax, tx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    WX = X @ W.T
    mean = Y.mean(0)
    _, _, Vt = np.linalg.svd(Y - mean, full_matrices=False)
    P = lambda Z: (Z - mean) @ Vt[:2].T
    py, px = P(Y), P(WX)
    ax.scatter(py[:, 0], py[:, 1], s=14, color="tab:orange", label="French y")
    ax.scatter(px[:, 0], px[:, 1], s=14, color="tab:blue", label="English W x")
    for (u, v), w in zip(py, tgt_words):
        ax.annotate(w, (u, v), fontsize=6, color="tab:orange")
    for (u, v), w in zip(px, src_words):
        ax.annotate(w, (u, v), fontsize=6, color="tab:blue")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=9)
    j = translate_words(WX, Y, "csls", k, metric)
    tx.axis("off")
    right = 0
    shown = [i for i, w in enumerate(src_words) if lexicon is None or w in lexicon]
    for row, i in enumerate(shown):
        w, t = src_words[i], tgt_words[j[i]]
        ok = lexicon is not None and t in lexicon.get(w, ())
        right += ok
        color = "grey" if lexicon is None else ("tab:green" if ok else "tab:red")
        col, r = divmod(row, (len(shown) + 1) // 2)
        tx.text(0.02 + 0.5 * col, 0.97 - r * 0.95 / ((len(shown) + 1) // 2), f"{w} → {t}", fontsize=7,
                color=color, transform=tx.transAxes, va="top")
    if lexicon is not None:
        tx.set_title(f"nearest French word: {right}/{len(shown)} right", fontsize=9)
    fig.tight_layout()
    return right


def lexicon_stepper(X, Y, src_words, tgt_words, cfg, lexicon=None, steps: int = 1000, every: int = 100,
                    seed: int = 0, headless=None):
    """The widget: a slider over the adversary's steps (snapshots of one game)."""
    snaps = snapshots(X, Y, cfg, steps, every, seed)
    n = len(snaps) - 1

    def draw(fig, snapshot):
        t, W = snaps[snapshot]
        draw_alignment(fig, X, Y, W, src_words, tgt_words, lexicon, cfg.k, cfg.metric,
                       title=f"after {t} adversarial steps")

    return interactive_plot(draw, figsize=(10, 4.2), headless=headless,
                            snapshot=slider(n, 0, n, 1, description=f"snapshot (x{every} steps)"))
