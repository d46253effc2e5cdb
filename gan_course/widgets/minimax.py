"""Widgets of notebook 01 (the minimax game): move p_g and watch D*, V and the JSD; watch a 1-D GAN learn.

`explore_p_g()` puts sliders for the mean and width of a Gaussian p_g and a choice of p_data on top of two
panels: the densities with the optimal discriminator D* = p_data / (p_data + p_g), and the generator's
criterion C(G) = V(D*, G) along the p_g mean, which bottoms out at -log 4 only where p_g = p_data.

`GAN1DView` draws a 1-D GAN while it trains: p_data, the generator's density (a kernel estimate of its
samples), its discriminator D and the optimal D* for the current generator; and the JSD over steps.
Headless (run-all, nbval, a reader of the saved notebook) it draws one final figure with snapshots.

Theory: Goodfellow et al. 2014, section 4. Numbers: gan_course.densities1d.
"""
from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np

from .. import densities1d as d1
from ..runtime import headless as _headless
from . import dropdown, interactive_plot, slider


def draw_p_g(fig, p_data: str, mean: float, width: float, x=None):
    """Draw p_data, p_g = N(mean, width^2), D*, and C(G) along the mean of p_g; return (V, JSD)."""
    x = d1.grid(-8, 8, 1601) if x is None else x
    P = d1.p_data(p_data)
    p, q = P.pdf(x), d1.gaussian(x, mean, width)
    d_star = d1.optimal_discriminator(p, q)
    v, j = d1.generator_criterion(p, q, x), d1.jsd(p, q, x)

    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
    ax1.plot(x, p, label="$p_{data}$", color="C0")
    ax1.plot(x, q, label="$p_g$", color="C1")
    ax1.fill_between(x, p, alpha=0.15, color="C0")
    ax1.fill_between(x, q, alpha=0.15, color="C1")
    ax1.set_ylim(0, max(0.8, 1.1 * max(p.max(), q.max())))
    ax1.set_xlim(-6, 6)
    ax1.set_ylabel("density")
    right = ax1.twinx()
    right.plot(x, d_star, color="C3", lw=1.5, label="$D^*$")
    right.axhline(0.5, color="C3", ls=":", lw=0.8)
    right.set_ylim(-0.02, 1.02)
    right.set_ylabel("$D^*(x)$", color="C3")
    right.grid(False)
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = right.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, loc="upper left")
    ax1.set_title(f"V(D*, G) = {v:.4f}   JSD = {j:.4f} nats\n-log 4 + 2 JSD = {-d1.LOG4 + 2 * j:.4f}")

    means = np.linspace(-4, 4, 81)
    xs = d1.grid(-20, 20, 2001)   # wide: C(G) needs all of p_g's mass
    ps = P.pdf(xs)
    curve = [d1.generator_criterion(ps, d1.gaussian(xs, m, width), xs) for m in means]
    ax2.plot(means, curve, color="C2")
    ax2.axhline(-d1.LOG4, color="k", ls="--", lw=0.8, label="$-\\log 4$")
    ax2.plot([mean], [v], "o", color="C1")
    ax2.set_xlabel("mean of $p_g$")
    ax2.set_ylabel("$C(G) = V(D^*, G)$")
    ax2.set_title(f"C(G) along the mean (width {width:.2f})")
    ax2.legend(loc="upper center")
    fig.tight_layout()
    return v, j


def explore_p_g(p_data: str = "two bumps", mean: float = 1.0, width: float = 1.0, headless=None):
    """The slider widget of notebook 01 (a static figure when headless)."""
    def draw(fig, p_data, mean, width):
        draw_p_g(fig, p_data, mean, width)

    return interactive_plot(draw, figsize=(9.0, 3.4), headless=headless,
                            p_data=dropdown(list(d1.P_DATA), p_data, "p_data"),
                            mean=slider(mean, -4.0, 4.0, 0.1, "mean of p_g"),
                            width=slider(width, 0.2, 3.0, 0.05, "width of p_g"))


class GAN1DView:
    """Live view of a 1-D GAN.

        view = GAN1DView(x, p_data_on_x)
        view.update(step, p_g=kde_on_x, d=D_on_x, d_star=D*_on_x, jsd=value)   # every few dozen steps
        view.close()                                                          # final static figure

    x, p_data: the grid and the data density on it. every_s: seconds between live redraws.
    n_snapshots: panels of the final figure (evenly spaced over the recorded updates).
    """

    def __init__(self, x, p_data, every_s: float = 0.5, headless=None, n_snapshots: int = 4):
        if n_snapshots < 1:
            raise ValueError(f"n_snapshots must be >= 1; got {n_snapshots}")
        self.x, self.p = np.asarray(x), np.asarray(p_data)
        self.every_s = every_s
        self.headless = _headless() if headless is None else bool(headless)
        self.n_snapshots = n_snapshots
        self.frames = []      # (step, p_g, d, d_star)
        self.jsd = ([], [])   # steps, values
        self._handle = None
        self._last = 0.0

    def update(self, step: int, p_g, d, d_star, jsd: float) -> None:
        self.frames.append((step, np.asarray(p_g), np.asarray(d), np.asarray(d_star)))
        self.jsd[0].append(step)
        self.jsd[1].append(float(jsd))
        if self.headless or time.time() - self._last < self.every_s:
            return
        self._last = time.time()
        fig = plt.figure(figsize=(9.0, 3.2))
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
        handles, labels = self._draw_frame(ax1, self.frames[-1])
        self._draw_jsd(ax2)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        fig.legend(handles, labels, loc="lower center", ncol=4)
        plt.close(fig)
        from IPython.display import display
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)

    def _draw_frame(self, ax, frame):
        step, q, d, d_star = frame
        # D* is only defined (and only estimable from samples) where there is mass: hide it elsewhere
        d_star = np.where((self.p + q) / 2 > 0.005, d_star, np.nan)
        ax.plot(self.x, self.p, color="C0", label="$p_{data}$")
        ax.fill_between(self.x, q, alpha=0.25, color="C1", label="$p_g$ (KDE of G's samples)")
        ax.set_ylim(0, 1.15 * max(self.p.max(), 0.5))
        ax.set_title(f"step {step}")
        right = ax.twinx()
        right.plot(self.x, d, color="C3", label="D (trained)")
        right.plot(self.x, d_star, color="k", ls="--", lw=1, label="$D^*$ for this G")
        right.set_ylim(-0.02, 1.02)
        right.grid(False)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = right.get_legend_handles_labels()
        return h1 + h2, l1 + l2

    def _draw_jsd(self, ax):
        ax.plot(*self.jsd, color="C2")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title("JSD($p_{data}$ ‖ $p_g$), nats")

    def close(self):
        """The final static figure: snapshots of the run, then the JSD curve. Returns the figure."""
        if not self.frames:
            raise RuntimeError("GAN1DView.close(): nothing was recorded; call update() during training")
        from IPython.display import display

        idx = np.unique(np.linspace(0, len(self.frames) - 1, self.n_snapshots).round().astype(int))
        n = len(idx) + 1
        fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9))
        for ax, i in zip(axes[:-1], idx):
            handles, labels = self._draw_frame(ax, self.frames[i])
        self._draw_jsd(axes[-1])
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        fig.legend(handles, labels, loc="lower center", ncol=4)
        plt.close(fig)
        if self._handle is not None:
            self._handle.update(fig)
        else:
            display(fig)
        return fig

