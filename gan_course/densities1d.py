"""1-D densities on a grid: the objects of the GAN minimax theory, computed by numerical integration.

Goodfellow et al. 2014 (section 4) prove three facts about the value function
    V(D, G) = E_{x~p_data}[log D(x)] + E_{x~p_g}[log(1 - D(x))] = ∫ p_data log D + p_g log(1 - D) dx:
the best discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x)); at it V(D*, G) = -log 4 + 2 JSD(p_data‖p_g);
so the generator's best reply is p_g = p_data. In one dimension every integral is a sum over a fine grid,
which is how notebook 01 checks each fact and how its widget redraws them live.

    x = grid()                                          # (N,) float64
    p, q = P_DATA["two bumps"].pdf(x), gaussian(x, 1.0, 0.8)
    value(optimal_discriminator(p, q), p, q, x)         # == -log 4 + 2 * jsd(p, q, x)

All arrays are NumPy float64 (the checks need 1e-6 and better); `Mixture.sample` gives torch tensors for
training. Logs are natural: KL and JSD are in nats, JSD <= log 2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

LOG4 = math.log(4.0)


@dataclass(frozen=True)
class Mixture:
    """A mixture of 1-D Gaussians: sum_k weights[k] N(means[k], sds[k]^2)."""
    weights: tuple   # mixing weights, positive, summing to 1
    means: tuple     # component means
    sds: tuple       # component standard deviations, positive

    def __post_init__(self):
        if not (len(self.weights) == len(self.means) == len(self.sds) >= 1):
            raise ValueError("weights, means and sds must have the same (non-zero) length")
        if min(self.weights) <= 0 or abs(sum(self.weights) - 1) > 1e-9:
            raise ValueError(f"weights must be positive and sum to 1; got {self.weights}")
        if min(self.sds) <= 0:
            raise ValueError(f"sds must be positive; got {self.sds}")

    def pdf(self, x) -> np.ndarray:
        return np.exp(self.logpdf(x))

    def logpdf(self, x) -> np.ndarray:
        """log density, computed with log-sum-exp so that it stays finite far in the tails."""
        x = np.asarray(x, dtype=np.float64)
        parts = [math.log(w) + log_gaussian(x, m, s) for w, m, s in zip(self.weights, self.means, self.sds)]
        return np.logaddexp.reduce(np.stack(parts), axis=0)

    def sample(self, n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        """n samples as a (n, 1) float32 tensor (the shape a 1-D discriminator takes)."""
        k = torch.multinomial(torch.tensor(self.weights), n, replacement=True, generator=generator)
        eps = torch.randn(n, generator=generator)
        x = torch.tensor(self.means)[k] + torch.tensor(self.sds)[k] * eps
        return x.unsqueeze(1).to(device)


P_DATA = {
    # name: the data densities the notebook and its widget offer
    "gaussian": Mixture((1.0,), (0.0,), (1.0,)),
    "two bumps": Mixture((0.5, 0.5), (-2.0, 2.0), (0.6, 0.6)),
    "skewed": Mixture((0.7, 0.3), (-1.0, 1.5), (0.5, 1.2)),
}


def p_data(name: str) -> Mixture:
    if name not in P_DATA:
        raise ValueError(f"p_data={name!r} is unknown; allowed values: {', '.join(P_DATA)}")
    return P_DATA[name]


def log_gaussian(x, mean: float, sd: float) -> np.ndarray:
    if not np.all(np.asarray(sd) > 0):
        raise ValueError(f"sd must be positive; got {sd}")
    x = np.asarray(x, dtype=np.float64)
    return -0.5 * ((x - mean) / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi)


def gaussian(x, mean: float, sd: float) -> np.ndarray:
    """The N(mean, sd^2) density at x."""
    return np.exp(log_gaussian(x, mean, sd))


def grid(lo: float = -10.0, hi: float = 10.0, n: int = 8001) -> np.ndarray:
    """An evenly spaced grid with an odd number of points (Simpson's rule needs an even number of intervals)."""
    if not hi > lo:
        raise ValueError(f"need lo < hi; got lo={lo}, hi={hi}")
    if n < 3 or n % 2 == 0:
        raise ValueError(f"n must be an odd number >= 3; got {n}")
    return np.linspace(lo, hi, n)


def simpson_weights(x) -> np.ndarray:
    """w such that sum(w * y) is Simpson's rule for ∫ y dx on the evenly spaced grid x (odd length):
    h/3 * (1, 4, 2, 4, ..., 2, 4, 1). Lets a torch loss integrate over the grid (see notebook 01)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) < 3 or len(x) % 2 == 0:
        raise ValueError(f"Simpson's rule needs a 1-D grid with an odd number (>= 3) of points; got shape {x.shape}")
    h = x[1] - x[0]
    if not np.allclose(np.diff(x), h, rtol=1e-9, atol=0):
        raise ValueError("x must be evenly spaced")
    w = np.full(len(x), 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return w * h / 3


def integrate(y, x) -> float:
    """∫ y dx by composite Simpson's rule on an evenly spaced grid (error O(h^4) for smooth y)."""
    y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if y.shape != x.shape:
        raise ValueError(f"y and x must be 1-D arrays of the same length; got {y.shape} and {x.shape}")
    return float(simpson_weights(x) @ y)


def _xlogy(a, b):
    """a * log(b) with 0 * log(0) = 0 (a density that is zero contributes nothing to its integral)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    out = np.zeros(a.shape)
    nz = a != 0
    with np.errstate(divide="ignore"):
        out[nz] = a[nz] * np.log(b[nz])
    return out


def optimal_discriminator(p, q) -> np.ndarray:
    """D*(x) = p(x) / (p(x) + q(x)); where both are 0 D* is undefined and we return 1/2."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    s = p + q
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), 0.5)


def value(d, p, q, x, logits: bool = False) -> float:
    """V(D, G) = ∫ p log D + q log(1 - D) dx for a discriminator given by its values d = D(x) on the grid,
    or (logits=True) by its logits, D = sigmoid(d): then log D and log(1 - D) are computed stably."""
    d = np.asarray(d, dtype=np.float64)
    if logits:
        log_d, log_1md = -np.logaddexp(0, -d), -np.logaddexp(0, d)
        return integrate(np.asarray(p) * log_d + np.asarray(q) * log_1md, x)
    if np.any((d < 0) | (d > 1)):
        raise ValueError("d must hold probabilities D(x) in [0, 1] (or pass logits=True)")
    return integrate(_xlogy(p, d) + _xlogy(q, 1 - d), x)


def kl(p, q, x) -> float:
    """KL(p‖q) = ∫ p log(p / q) dx in nats (inf if p > 0 where q = 0)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    return integrate(_xlogy(p, p) - _xlogy(p, q), x)


def jsd(p, q, x) -> float:
    """JSD(p‖q) = KL(p‖m)/2 + KL(q‖m)/2 with m = (p + q)/2, in nats; 0 <= JSD <= log 2.
    Computed as 1/2 ∫ p log(2p / (p + q)) + q log(2q / (p + q)) dx: the same integrand, but m = (p + q)/2
    could round to 0 where p is a tiny (subnormal) positive number, and p + q cannot."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    s = p + q
    return 0.5 * integrate(_xlogy(p, 2 * p) - _xlogy(p, s) + _xlogy(q, 2 * q) - _xlogy(q, s), x)


def generator_criterion(p, q, x) -> float:
    """C(G) = max_D V(D, G) = V(D*, G), computed by plugging D* into V (not from the JSD formula), with
    log D* = log p - log(p + q) and log(1 - D*) = log q - log(p + q), so that D* close to 1 in a tail
    (where 1 - D* rounds to 0) still gives a finite term."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    s = p + q
    return integrate(_xlogy(p, p) - _xlogy(p, s) + _xlogy(q, q) - _xlogy(q, s), x)


def kde(samples, x, bandwidth: float | None = None) -> np.ndarray:
    """Gaussian kernel density estimate of 1-D samples on the grid x (Silverman's bandwidth by default);
    how the notebook draws p_g for a generator whose density has no formula."""
    s = np.asarray(samples, dtype=np.float64).ravel()
    if s.size < 2:
        raise ValueError("kde needs at least 2 samples")
    if bandwidth is None:
        iqr = np.subtract(*np.percentile(s, [75, 25]))
        spread = min(s.std(), iqr / 1.34) if iqr > 0 else s.std()
        bandwidth = 0.9 * max(spread, 1e-3) * s.size ** (-0.2)
    x = np.asarray(x, dtype=np.float64)
    # sum over samples in chunks so that memory stays small for 10^4 samples x 10^3 grid points
    out = np.zeros_like(x)
    for i in range(0, s.size, 2048):
        out += gaussian(x[:, None], s[None, i:i + 2048], bandwidth).sum(1)
    return out / s.size
