"""Widget of notebook 08: the Gumbel-softmax temperature.

`explore_temperature()` puts a temperature slider (and the logit of the first of three categories) on
top of two panels: 400 relaxed samples y = softmax((logits + g) / tau) drawn inside the triangle of all
3-way probability vectors (corners = one-hot vectors), coloured by their argmax, and a bar chart of the
softmax probabilities beside the mean of the relaxed samples and the frequency of their argmax. At a
small tau the points sit on the corners (nearly one-hot; the argmax frequencies are the softmax, the
Gumbel-max trick); at a large tau they gather at the centre (nearly uniform, and their mean is biased
towards uniform).

Theory: Jang et al. 2017; Maddison et al. 2017. Numbers: gan_course.gumbel.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import gumbel
from . import interactive_plot, slider

CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])  # one-hot e_1, e_2, e_3 in 2-D


def draw_relaxed(fig, tau: float, logit_1: float = 1.0, n: int = 400, seed: int = 0) -> dict:
    """Draw relaxed samples of a 3-way softmax at temperature tau; return the numbers in the titles."""
    logits = torch.tensor([logit_1, 0.0, -0.5])
    p = torch.softmax(logits, 0)
    g = torch.Generator().manual_seed(seed)
    y = gumbel.gumbel_softmax(logits.expand(n, 3), tau, generator=g)          # (n, 3)
    xy = y.numpy() @ CORNERS                                                    # barycentric -> 2-D
    arg = y.argmax(1).numpy()
    freq = np.bincount(arg, minlength=3) / n
    peak = y.max(1).values.mean().item()

    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    tri = np.vstack([CORNERS, CORNERS[:1]])
    ax1.plot(tri[:, 0], tri[:, 1], color="k", lw=0.8)
    for k in range(3):
        m = arg == k
        ax1.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.5, color=f"C{k}", label=f"argmax = {k + 1}")
    ax1.plot(*(p.numpy() @ CORNERS), "k*", ms=10, label="softmax(logits)")
    for k, (cx, cy) in enumerate(CORNERS):
        ax1.annotate(f"one-hot {k + 1}", (cx, cy), textcoords="offset points", xytext=(0, -10 if cy == 0 else 4),
                     ha="center", fontsize=7)
    ax1.set_aspect("equal")
    ax1.axis("off")
    ax1.legend(loc="upper right", fontsize=6, markerscale=2)
    ax1.set_title(f"tau = {tau:.3g}: mean largest entry {peak:.2f}")

    idx = np.arange(3)
    ax2.bar(idx - 0.27, p.numpy(), 0.27, label="softmax p")
    ax2.bar(idx, freq, 0.27, label="argmax frequency")
    ax2.bar(idx + 0.27, y.mean(0).numpy(), 0.27, label="mean relaxed y")
    ax2.set_xticks(idx, ["1", "2", "3"])
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("category")
    ax2.legend(fontsize=7)
    ax2.set_title("Gumbel-max is exact; the relaxation's mean is not")
    return {"peak": peak, "freq": freq, "p": p.numpy(), "mean_y": y.mean(0).numpy()}


def explore_temperature(tau: float = 0.5, logit_1: float = 1.0):
    """Sliders for tau and the first logit, above the simplex picture (one static figure headless)."""
    return interactive_plot(lambda fig, tau, logit_1: draw_relaxed(fig, tau, logit_1),
                            figsize=(7.5, 3.2),
                            tau=slider(tau, 0.05, 5.0, 0.05, "temperature tau"),
                            logit_1=slider(logit_1, -2.0, 3.0, 0.1, "logit of category 1"))
