"""Priors p(z) that an adversarial autoencoder can impose on its codes (Makhzani et al. 2015, Figs. 2-4).

An AAE needs only *samples* of the prior (its discriminator compares them with codes), so any
distribution we can sample works, including ones with no tractable density:

    gaussian     N(0, I) in any number of dimensions
    mixture10    10 Gaussians (std 0.5) with means evenly spaced on a circle of radius 4 (2-D only)
    swiss_roll   a 2-D swiss roll: u ~ U(0, 1), angle t = 1.5 pi (1 + 2u), point (t cos t, t sin t) / 3,
                 plus N(0, 0.15^2) noise (2-D only)

Label-conditioned sampling (Makhzani et al. 2015, Sec. 2.3): `sample_prior(name, n, d, labels=y)`
draws the i-th point from the part of the prior that belongs to class y[i] -- component y[i] of the
mixture, or the y[i]-th tenth of the swiss roll. The AAE's discriminator is then shown the label too,
so it pushes each digit class into its own region.

    z = sample_prior("mixture10", 500, 2, generator=g)                 # (500, 2)
    z = sample_prior("mixture10", 500, 2, labels=y, generator=g)       # class y[i] -> component y[i]
"""
from __future__ import annotations

import math

import torch

PRIORS = ("gaussian", "mixture10", "swiss_roll")
N_COMPONENTS = 10             # components of the mixture / segments of the roll (one per digit class)
MIXTURE_RADIUS = 4.0
MIXTURE_STD = 0.5
ROLL_SCALE = 1.0 / 3.0
ROLL_NOISE = 0.15


def check_prior(name: str, d: int, conditional: bool = False) -> None:
    """Raise a clear error if (name, d, conditional) is not a prior we can sample."""
    if not isinstance(name, str) or name not in PRIORS:
        raise ValueError(f"prior={name!r} is unknown; allowed values: {', '.join(PRIORS)}")
    if not isinstance(d, int) or isinstance(d, bool) or d < 1:
        raise ValueError(f"d (the latent size) must be a positive integer; got {d!r}")
    if name != "gaussian" and d != 2:
        raise ValueError(f"prior={name!r} is 2-D only; got d={d} (use prior='gaussian' for other sizes)")
    if conditional and name == "gaussian":
        raise ValueError("prior='gaussian' has no components to condition on; "
                         "label-conditioned priors: mixture10, swiss_roll")


def sample_prior(name: str, n: int, d: int = 2, labels: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """n samples (n, d) of the prior `name`; with `labels` (n,) in 0..9, each from its class's part."""
    check_prior(name, d, conditional=labels is not None)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer; got {n!r}")
    if labels is not None:
        if not isinstance(labels, torch.Tensor) or labels.shape != (n,) or labels.dtype.is_floating_point:
            raise ValueError(f"labels must be an integer tensor of shape ({n},); got "
                             f"{getattr(labels, 'shape', type(labels).__name__)}")
        if n and (labels.min() < 0 or labels.max() >= N_COMPONENTS):
            raise ValueError(f"labels must lie in 0..{N_COMPONENTS - 1}")
        labels = labels.cpu()
    # draw on the CPU with the (CPU) generator, then move: the same numbers on every device
    if name == "gaussian":
        z = torch.randn(n, d, generator=generator)
    elif name == "mixture10":
        k = labels if labels is not None else torch.randint(0, N_COMPONENTS, (n,), generator=generator)
        angle = 2 * math.pi * k.float() / N_COMPONENTS
        means = MIXTURE_RADIUS * torch.stack([angle.cos(), angle.sin()], 1)           # (n, 2)
        z = means + MIXTURE_STD * torch.randn(n, 2, generator=generator)
    else:  # swiss_roll
        u = torch.rand(n, generator=generator)
        if labels is not None:
            u = (labels.float() + u) / N_COMPONENTS          # class k -> the k-th tenth of the roll
        t = 1.5 * math.pi * (1 + 2 * u)
        z = ROLL_SCALE * torch.stack([t * t.cos(), t * t.sin()], 1)                    # (n, 2)
        z = z + ROLL_NOISE * torch.randn(n, 2, generator=generator)
    return z.to(device) if device is not None else z
