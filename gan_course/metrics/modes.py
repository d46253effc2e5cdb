"""Mode-collapse metrics of VEEGAN (Srivastava et al. 2017, section 5.1 and Table 1).

From 2,500 generated samples:
  * a sample is *high quality* if it lies within 3 standard deviations (3 sigma) of its nearest mode;
  * a mode is *captured* if at least one high-quality sample has it as its nearest mode.
Report the number of modes captured and the percentage of high-quality samples. A collapsed GAN has few
modes (and may still have 99% high quality: all its samples sit on one mode); a blurry one has all the
modes but few high-quality samples. Good generators have both.

    m = mode_metrics(samples, data.centres, data.sigma)            # mixtures: one centre per mode
    m.modes, m.high_quality                                         # e.g. 8, 0.97

For curves (spiral, moons) `centres` is a dense polyline and `mode_of` maps each of its points to a piece
of the curve, so the same two definitions apply (distance to the curve; pieces covered).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

N_SAMPLES = 2500  # VEEGAN's sample count


@dataclass(frozen=True)
class ModeMetrics:
    modes: int             # modes captured (at least one high-quality sample nearest to it)
    n_modes: int           # modes in the data
    high_quality: float    # fraction of samples within 3 sigma of their nearest mode, in [0, 1]
    per_mode: tuple        # high-quality samples nearest to each mode (length n_modes)

    def __str__(self):
        return f"modes: {self.modes}/{self.n_modes}   high quality: {100 * self.high_quality:.1f}%"


def mode_metrics(samples: torch.Tensor, centres: torch.Tensor, sigma: float, mode_of: torch.Tensor | None = None,
                 n_modes: int | None = None, threshold: float = 3.0) -> ModeMetrics:
    """VEEGAN's metrics of `samples` (N, 2) against the modes at `centres` (M, 2) with noise std `sigma`.

    mode_of: (M,) long, the mode of each centre (default: centre i is mode i); n_modes: default M or
    max(mode_of)+1. threshold: the "3" of "within 3 sigma".
    """
    if not isinstance(samples, torch.Tensor) or samples.dim() != 2:
        raise ValueError(f"samples must be a tensor of shape (N, d); got "
                         f"{tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__}")
    if samples.shape[0] < 1:
        raise ValueError("samples must hold at least one sample")
    if not isinstance(centres, torch.Tensor):
        raise TypeError(f"centres must be a torch tensor (M, d); got {type(centres).__name__} (use torch.as_tensor)")
    if not (isinstance(threshold, (int, float)) and threshold > 0 and threshold != float("inf")):
        raise ValueError(f"threshold={threshold!r} is not allowed; allowed: a positive finite number (> 0), "
                         "the 3 of 'within 3 sigma'")
    if centres.dim() != 2 or centres.shape[1] != samples.shape[1]:
        raise ValueError(f"centres must have shape (M, {samples.shape[1]}); got {tuple(centres.shape)}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0; got {sigma}")
    samples = samples.detach().float().cpu()
    centres = centres.float().cpu()
    if mode_of is None:
        mode_of = torch.arange(centres.shape[0])
    n_modes = int(mode_of.max()) + 1 if n_modes is None else n_modes
    # nearest centre of each sample; NaN samples (a diverged generator) are never high quality
    dist = torch.cdist(samples, centres)                      # (N, M)
    dist = torch.nan_to_num(dist, nan=float("inf"))
    nearest_dist, nearest = dist.min(dim=1)                   # (N,), (N,)
    good = nearest_dist <= threshold * sigma                  # (N,) high quality
    per_mode = torch.bincount(mode_of[nearest[good]], minlength=n_modes)  # (n_modes,)
    return ModeMetrics(modes=int((per_mode > 0).sum()), n_modes=n_modes,
                       high_quality=float(good.float().mean()), per_mode=tuple(per_mode.tolist()))


def data_metrics(samples: torch.Tensor, data) -> ModeMetrics:
    """`mode_metrics` against a `gan_course.data.toy2d.Toy2D` data set."""
    return mode_metrics(samples, data.centres, data.sigma, data.mode_of, data.n_modes)
