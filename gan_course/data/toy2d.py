"""Toy 2-D data sets for GANs: the ring of 8 and grid of 25 Gaussians, a spiral, two moons.

The ring and the grid are the benchmarks of the mode-collapse literature (Metz et al. 2017, Unrolled GANs;
Srivastava et al. 2017, VEEGAN, Table 1): a generator that covers every mode with sharp samples is easy to
see and easy to measure (`gan_course.metrics.modes`).

    data = toy2d.dataset("ring8")
    x = data.sample(512, generator=torch.Generator().manual_seed(0))   # (512, 2)
    data.centres        # (8, 2) mode means;   data.sigma == 0.02

The spiral and the moons are continuous curves blurred by Gaussian noise. For the metrics they are treated
like mixtures whose "modes" are `n_segments` pieces of equal arc length: `centres` holds a dense polyline of
the curve (so "within 3 sigma of the nearest centre" means within 3 sigma of the curve) and `mode_of`
says which piece each polyline point belongs to.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DATASETS = ("ring8", "grid25", "spiral", "two_moons")


@dataclass(frozen=True)
class Toy2D:
    """A 2-D data set: Gaussian noise of std `sigma` around the points in `centres` (or along a curve)."""
    name: str
    centres: torch.Tensor   # (M, 2) mode means (mixtures) or a dense polyline of the curve (curves)
    mode_of: torch.Tensor   # (M,) long: which mode each row of `centres` belongs to
    n_modes: int            # number of modes (mixtures) or of equal-length pieces of the curve
    sigma: float            # std of the isotropic Gaussian noise added to every sample
    curve: bool             # False: a mixture of Gaussians at `centres`; True: noise around a curve
    seg_weight: torch.Tensor | None = None  # curves: (M-1,) sampling weight of each polyline segment

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """n samples (n, 2), reproducible with a seeded CPU `generator`; moved to `device` at the end."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive integer number of samples; got {n!r}")
        M = self.centres.shape[0]
        if self.curve:
            # uniform in arc length along the polyline: pick a segment, then a point on it
            idx = torch.multinomial(self.seg_weight, n, replacement=True, generator=generator)  # (n,)
            t = torch.rand(n, 1, generator=generator)                                           # (n, 1)
            base = self.centres[idx] + t * (self.centres[idx + 1] - self.centres[idx])         # (n, 2)
        else:
            idx = torch.randint(0, M, (n,), generator=generator)                                # (n,)
            base = self.centres[idx]                                                            # (n, 2)
        x = base + self.sigma * torch.randn(n, 2, generator=generator)
        return x.to(device) if device is not None else x

    @property
    def extent(self) -> float:
        """Half-width of a square view that holds the data with a margin (for plots)."""
        return float(self.centres.abs().max()) + 1.0


def ring8(radius: float = 2.0, sigma: float = 0.02) -> Toy2D:
    """8 Gaussians evenly spaced on a circle of `radius` (VEEGAN: radius 2, sigma 0.02)."""
    angles = torch.arange(8) * (2 * math.pi / 8)
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2)
    return Toy2D("ring8", centres, torch.arange(8), 8, sigma, curve=False)


def grid25(spacing: float = 2.0, sigma: float = 0.05) -> Toy2D:
    """25 Gaussians with means on {-4, -2, 0, 2, 4}^2 (VEEGAN: sigma 0.05)."""
    ticks = spacing * torch.arange(-2, 3, dtype=torch.float32)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    centres = torch.stack([gx.flatten(), gy.flatten()], dim=1)  # (25, 2)
    return Toy2D("grid25", centres, torch.arange(25), 25, sigma, curve=False)


def _curve(name, points, n_modes, sigma, gaps=()):
    """A Toy2D from a dense polyline `points` (M, 2), split into `n_modes` pieces of equal arc length.
    gaps: indices of segments that join separate pieces of the curve; they are never sampled."""
    seg = (points[1:] - points[:-1]).norm(dim=1)  # (M-1,)
    seg[list(gaps)] = 0.0
    arc = torch.cat([torch.zeros(1), seg.cumsum(0)])  # (M,) arc length at each point
    mode_of = torch.clamp((arc / arc[-1] * n_modes).long(), max=n_modes - 1)
    return Toy2D(name, points, mode_of, n_modes, sigma, curve=True, seg_weight=seg / seg.sum())


def spiral(turns: float = 1.5, r_max: float = 4.0, sigma: float = 0.05, n_modes: int = 20) -> Toy2D:
    """An Archimedean spiral r = r_max * t, angle = 2 pi turns t, t in [0.1, 1]."""
    t = torch.linspace(0.1, 1.0, 1500)
    angle = 2 * math.pi * turns * t
    points = r_max * t[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)  # (1500, 2)
    return _curve("spiral", points, n_modes, sigma)


def two_moons(sigma: float = 0.05, n_modes: int = 20) -> Toy2D:
    """Two interleaved half circles (scikit-learn's make_moons, scaled by 2 and centred)."""
    t = torch.linspace(0, math.pi, 750)
    upper = torch.stack([t.cos(), t.sin()], dim=1)
    lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], dim=1)
    points = 2 * (torch.cat([upper, lower]) - torch.tensor([0.5, 0.25]))  # (1500, 2)
    return _curve("two_moons", points, n_modes, sigma, gaps=[749])  # segment 749 jumps between the arcs


_BUILDERS = {"ring8": ring8, "grid25": grid25, "spiral": spiral, "two_moons": two_moons}


def dataset(name: str) -> Toy2D:
    """The data set called `name`, one of DATASETS."""
    if name not in _BUILDERS:
        raise ValueError(f"data={name!r} is unknown; allowed values: {', '.join(DATASETS)}")
    return _BUILDERS[name]()


def sample(name: str, n: int, seed: int = 0, device=None) -> torch.Tensor:
    """n samples (n, 2) of data set `name`, reproducible from `seed`."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return dataset(name).sample(n, generator=torch.Generator().manual_seed(seed), device=device)
