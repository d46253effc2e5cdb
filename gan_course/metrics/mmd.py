"""Maximum mean discrepancy (Gretton et al. 2012): how far apart two samples' distributions are.

    MMD^2(P, Q) = E[k(x, x')] + E[k(y, y')] - 2 E[k(x, y)],   x, x' ~ P,  y, y' ~ Q

With a characteristic kernel, MMD^2 = 0 exactly when P = Q. The course's kernel is a sum of Gaussian
(RBF) kernels over several bandwidths, so that both fine and coarse differences count without tuning
one bandwidth (Li et al. 2015, Generative moment matching networks):

    k(a, b) = sum_s exp(-||a - b||^2 / (2 s^2)),   s in BANDWIDTHS = (0.25, 0.5, 1, 2, 4)

(bandwidths suited to 2-D codes of scale 1-5, as the AAE priors have). `mmd2` is the *unbiased*
estimator (the diagonal terms k(x_i, x_i) are left out), so it scatters around 0 -- and can be slightly
negative -- when P = Q. `mmd_permutation_test` says whether a value is larger than chance.
"""
from __future__ import annotations

import torch

BANDWIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)


def _check(x, y):
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            raise ValueError(f"{name} must be a 2-D tensor (n, d) of samples; got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
        if len(t) < 2:
            raise ValueError(f"{name} needs at least 2 samples for the unbiased estimator; got {len(t)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} holds NaN or inf values (a diverged generator?); allowed: finite samples")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension; got x {tuple(x.shape)} and y {tuple(y.shape)}")


def rbf_mixture_kernel(a: torch.Tensor, b: torch.Tensor, bandwidths=BANDWIDTHS) -> torch.Tensor:
    """K[i, j] = sum_s exp(-||a_i - b_j||^2 / (2 s^2)): (n, d), (m, d) -> (n, m)."""
    if not bandwidths or any(not s > 0 or s == float("inf") for s in bandwidths):   # NaN is refused too
        raise ValueError(f"bandwidths must be a non-empty list of positive numbers; got {bandwidths!r}")
    d2 = torch.cdist(a.double(), b.double()).pow(2)          # (n, m), in float64 for a clean ~0
    return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)


def mmd2(x: torch.Tensor, y: torch.Tensor, bandwidths=BANDWIDTHS) -> float:
    """Unbiased MMD^2 between samples x (n, d) and y (m, d):
    1/(n(n-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j) - 2/(nm) sum_{i,j} k(x_i, y_j)."""
    _check(x, y)
    n, m = len(x), len(y)
    kxx = rbf_mixture_kernel(x, x, bandwidths)
    kyy = rbf_mixture_kernel(y, y, bandwidths)
    kxy = rbf_mixture_kernel(x, y, bandwidths)
    term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(term_x + term_y - 2 * kxy.mean())


def mmd_permutation_test(x: torch.Tensor, y: torch.Tensor, n_permutations: int = 200, bandwidths=BANDWIDTHS,
                         generator: torch.Generator | None = None) -> tuple[float, float]:
    """(MMD^2, p-value): the p-value is the fraction of random relabellings of the pooled sample whose
    MMD^2 is at least the observed one (with the +1 correction, so it is never exactly 0)."""
    _check(x, y)
    if not isinstance(n_permutations, int) or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive integer; got {n_permutations!r}")
    n, m = len(x), len(y)
    k = rbf_mixture_kernel(torch.cat([x, y]), torch.cat([x, y]), bandwidths)   # (n+m, n+m), computed once
    diag = k.diagonal()
    total = k.sum()

    def stat(w):   # w: (n+m,) float64, 1 for the points labelled "x", 0 for "y"
        kw = k @ w                                                      # (n+m,)
        sxx = w @ kw - w @ diag                                         # sum_{i != j in x} k
        sxy = (1 - w) @ kw                                              # sum_{i in y, j in x} k
        syy = total - 2 * sxy - w @ kw - (1 - w) @ diag                 # sum_{i != j in y} k
        return float(sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m))

    w = torch.cat([torch.ones(n), torch.zeros(m)]).double()
    observed = stat(w)
    hits = sum(stat(w[torch.randperm(n + m, generator=generator)]) >= observed for _ in range(n_permutations))
    return observed, (1 + hits) / (1 + n_permutations)
