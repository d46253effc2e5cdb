"""Widgets for latent-variable models of images (notebooks 04 VAE and 05 AAE).

    latent_traversal(decode, d_z, codes=..., labels=...)   one slider per latent coordinate -> the image
    beta_explorer(sweep, originals)                         a beta slider over precomputed beta-VAE runs:
                                                            rate-distortion curve, reconstructions, samples
    prior_explorer(runs)                                    a prior selector over precomputed AAE runs:
                                                            prior vs codes, and images decoded from the prior

Each widget shows precomputed or cheap-to-compute things only (a decoder pass), so it reacts at once.
Headless (run-all, nbval, the web view) each draws one static figure at its default values.
"""
from __future__ import annotations

import numpy as np
import torch

from . import dropdown, interactive_plot, slider

MAX_SLIDERS = 8


def image_grid(images, ncol: int = 10, side: int = 8, pad: int = 1) -> np.ndarray:
    """Images (n, side*side) with values in [0, 1] -> one mosaic array for imshow (white gaps)."""
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if images.ndim != 2 or images.shape[1] != side * side:
        raise ValueError(f"images must have shape (n, {side * side}); got {images.shape}")
    if ncol < 1:
        raise ValueError(f"ncol must be a positive integer; got {ncol}")
    n = len(images)
    nrow = max(1, -(-n // ncol))
    cell = side + pad
    grid = np.ones((nrow * cell - pad, ncol * cell - pad))
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        grid[r * cell:r * cell + side, c * cell:c * cell + side] = 1.0 - img.reshape(side, side)  # ink is dark
    return grid


def show_grid(ax, images, ncol: int = 10, title: str = "") -> None:
    ax.imshow(image_grid(images, ncol), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title)


def scatter_codes(ax, codes, labels=None, prior=None, title: str = "", lim=None) -> None:
    """2-D codes coloured by digit class (tab10), over grey prior samples if given."""
    codes = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    if prior is not None:
        prior = prior.detach().cpu().numpy() if isinstance(prior, torch.Tensor) else np.asarray(prior)
        ax.scatter(prior[:, 0], prior[:, 1], s=3, c="0.75", label="prior", rasterized=True)
    if labels is None:
        sc = ax.scatter(codes[:, 0], codes[:, 1], s=4, c="C0", rasterized=True)
    else:
        sc = ax.scatter(codes[:, 0], codes[:, 1], s=4, c=np.asarray(labels), cmap="tab10", vmin=-0.5, vmax=9.5,
                        rasterized=True)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return sc


def latent_traversal(decode, d_z: int, lim: float = 3.0, codes=None, labels=None, headless=None):
    """Sliders z_1..z_d (d <= 8) -> the decoded image; with 2-D `codes`, a latent map marks where z is.

    decode: a function z (1, d_z) tensor -> image (1, 64) in [0, 1] (e.g. `model.decode`).
    """
    if not callable(decode):
        raise TypeError("decode must be a function z (1, d_z) -> image (1, 64)")
    if not isinstance(d_z, int) or not 1 <= d_z <= MAX_SLIDERS:
        raise ValueError(f"d_z must be an integer in 1..{MAX_SLIDERS} (one slider per coordinate); got {d_z!r}")
    show_map = codes is not None and d_z == 2
    controls = {f"z{i + 1}": slider(0.0, -lim, lim, lim / 30, f"z{i + 1}") for i in range(d_z)}

    def draw(fig, **values):
        z = torch.tensor([[values[f"z{i + 1}"] for i in range(d_z)]], dtype=torch.float32)
        img = decode(z)
        axes = fig.subplots(1, 2) if show_map else [None, fig.add_subplot(111)]
        if show_map:
            scatter_codes(axes[0], codes, labels, title="latent map (held-out codes)")
            axes[0].plot(*z[0].tolist(), marker="*", ms=16, mec="k", mfc="yellow")
        show_grid(axes[1], img, ncol=1, title="decoded: z = (" + ", ".join(f"{v:.1f}" for v in z[0].tolist()) + ")")
        fig.tight_layout()

    return interactive_plot(draw, figsize=(6.4, 3.0), headless=headless, **controls)


def beta_explorer(sweep: list, originals, headless=None):
    """A beta slider over precomputed beta-VAE runs.

    sweep: a list of dicts, one per beta, with keys beta, rate (KL, nats), distortion (-E log p(x|z), nats),
           recon (n, 64) reconstructions of `originals`, samples (n, 64) decoded from the prior.
    """
    import ipywidgets as w

    need = {"beta", "rate", "distortion", "recon", "samples"}
    if not sweep or any(not need <= set(run) for run in sweep):
        raise ValueError(f"sweep must be a non-empty list of dicts with keys {sorted(need)}")
    sweep = sorted(sweep, key=lambda r: r["beta"])
    betas = [r["beta"] for r in sweep]
    default = min(betas, key=lambda b: abs(b - 1.0))
    control = w.SelectionSlider(options=betas, value=default, description="β", continuous_update=False)

    def draw(fig, beta):
        run = sweep[betas.index(beta)]
        ax0, ax1, ax2 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.3, 1, 1]})
        ax0.plot([r["rate"] for r in sweep], [r["distortion"] for r in sweep], "o-", c="0.5")
        for r in sweep:
            ax0.annotate(f"β={r['beta']:g}", (r["rate"], r["distortion"]), fontsize=7,
                         textcoords="offset points", xytext=(4, 4))
        ax0.plot(run["rate"], run["distortion"], "o", ms=10, c="C3")
        ax0.set_xlabel("rate  KL(q(z|x) || p(z))  [nats]")
        ax0.set_ylabel("distortion  −E log p(x|z)  [nats]")
        ax0.set_title(f"β = {beta:g}: −ELBO = {run['rate'] + run['distortion']:.1f} nats")
        n = min(len(originals), len(run["recon"]), 10)
        half = max(1, (n + 1) // 2)
        show_grid(ax1, torch.cat([torch.as_tensor(originals[:n]), torch.as_tensor(run["recon"][:n])]), ncol=half,
                  title="data (top 2 rows)\nreconstructions (bottom 2)" if n > 1 else "data / reconstruction")
        show_grid(ax2, run["samples"][:20], ncol=5, title="samples from p(z)")
        fig.tight_layout()

    return interactive_plot(draw, figsize=(9.0, 3.0), headless=headless, beta=control)


def prior_explorer(runs: dict, default=None, headless=None):
    """A prior selector over precomputed AAE runs.

    runs: name -> dict with keys prior (n, 2) prior samples, codes (n, 2) held-out codes, labels (n,),
          samples (m, 64) images decoded from prior samples, and optionally mmd (a float).
    """
    if not runs or any(not {"prior", "codes", "labels", "samples"} <= set(r) for r in runs.values()):
        raise ValueError("runs must map a prior name to a dict with keys prior, codes, labels, samples")
    names = list(runs)
    control = dropdown(names, default if default is not None else names[0], "prior")

    def draw(fig, prior):
        run = runs[prior]
        ax0, ax1 = fig.subplots(1, 2)
        scatter_codes(ax0, run["codes"], run["labels"], prior=run["prior"],
                      title=f"codes vs prior" + (f" (MMD² = {run['mmd']:.3f})" if "mmd" in run else ""))
        show_grid(ax1, run["samples"], ncol=10, title="decoded from prior samples")
        fig.tight_layout()

    return interactive_plot(draw, figsize=(8.0, 3.4), headless=headless, prior=control)
