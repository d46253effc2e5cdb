"""scikit-learn's bundled 8x8 handwritten digits, split once and for all into train / valid / test.

The set has 1,797 images of 8x8 pixels; every pixel is an integer grey level 0..16 (17 levels), the
count of "on" pixels in a 4x4 block of the original 32x32 bitmap (Alpaydin & Kaynak 1998, the UCI
"optdigits" set). Nothing is downloaded: the data ship inside scikit-learn.

Because the pixels are *discrete*, a model that puts a categorical distribution over the 17 levels of
each pixel gives a true log-likelihood in nats (a probability of the exact image). A Bernoulli on
pixels/16 is also common, but it scores a continuous relaxation of the data, not the data.

    d = load_digits_split()          # Digits(x_train (N, 64) int64 in 0..16, y_train (N,), ...)
    d.x_train.shape, d.x_test.shape  # (1297, 64), (300, 64)
    scale(d.x_train)                 # float32 in [0, 1]: what an encoder reads
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

N_LEVELS = 17        # grey levels 0..16
SIDE = 8             # images are SIDE x SIDE
N_PIXELS = SIDE * SIDE
N_CLASSES = 10


@dataclass
class Digits:
    """Integer images (N, 64) int64 with values 0..16, labels (N,) int64 in 0..9, for each split."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __repr__(self):
        return (f"Digits(train={len(self.x_train)}, valid={len(self.x_valid)}, test={len(self.x_test)}, "
                f"pixels={self.x_train.shape[1]}, levels={N_LEVELS})")


def load_digits_split(n_test: int = 300, n_valid: int = 200, seed: int = 0) -> Digits:
    """The fixed split every notebook uses: stratified by digit class, seeded, so it never changes.

    n_test: held-out images for the final numbers (never trained on, never used to choose anything).
    n_valid: images for early stopping / model choice (0 allowed: then x_valid is empty).
    seed: the split's seed (keep 0 to compare with the committed numbers).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    for name, v in (("n_test", n_test), ("n_valid", n_valid), ("seed", seed)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name} must be a non-negative integer; got {v!r}")
    if n_test < N_CLASSES:
        raise ValueError(f"n_test must be at least {N_CLASSES} (one image per class); got {n_test}")
    if n_test + n_valid > 1797 - 100:
        raise ValueError(f"n_test + n_valid = {n_test + n_valid} leaves fewer than 100 of the 1,797 images to train on")
    bunch = load_digits()
    x = bunch.data.astype(np.int64)          # (1797, 64), values 0..16
    y = bunch.target.astype(np.int64)        # (1797,)
    assert x.min() == 0 and x.max() == N_LEVELS - 1
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=n_test, stratify=y, random_state=seed)
    if n_valid:
        x_train, x_valid, y_train, y_valid = train_test_split(x_rest, y_rest, test_size=n_valid, stratify=y_rest,
                                                              random_state=seed)
    else:
        x_train, y_train = x_rest, y_rest
        x_valid, y_valid = x[:0], y[:0]
    t = torch.from_numpy
    return Digits(t(x_train), t(y_train), t(x_valid), t(y_valid), t(x_test), t(y_test))


def scale(levels: torch.Tensor) -> torch.Tensor:
    """Grey levels 0..16 -> floats in [0, 1] (what encoders read, and the Bernoulli 'probabilities')."""
    if not isinstance(levels, torch.Tensor):
        raise TypeError(f"levels must be a torch.Tensor of grey levels; got {type(levels).__name__}")
    return levels.float() / (N_LEVELS - 1)


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator):
    """An endless iterator of shuffled (x, y) minibatches; each epoch is a fresh permutation."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    while True:
        perm = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x) - batch_size + 1, batch_size):  # drop the last partial batch
            idx = perm[i:i + batch_size]
            yield x[idx], y[idx]


def pixel_marginal_nll(x_train: torch.Tensor, x_eval: torch.Tensor, pseudo_count: float = 1.0) -> float:
    """Baseline in nats per image: each pixel an independent categorical over the 17 levels, fitted by
    counting on x_train (with `pseudo_count` added to every level), scored on x_eval. Any latent-variable
    model worth its name must beat this."""
    counts = torch.zeros(x_train.shape[1], N_LEVELS, dtype=torch.float64)
    counts.scatter_add_(1, x_train.T.contiguous(), torch.ones(x_train.T.shape, dtype=torch.float64))  # (64, 17)
    logp = (counts + pseudo_count).log() - (counts + pseudo_count).sum(1, keepdim=True).log()
    return float(-logp.gather(1, x_eval.T.contiguous()).sum(0).mean())
