"""The multi-layer perceptron every continuous model of the course is made of (2-D GANs, VAE, AAE)."""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}


class MLP(nn.Module):
    """x (B, d_in) -> (B, d_out): `depth` hidden layers of `width` units, then a linear output layer.

    With d_out == 1 and squeeze=True the output is (B,), the discriminator contract D(x) -> logits (B,).
    """

    def __init__(self, d_in: int, d_out: int, width: int = 128, depth: int = 2, activation: str = "relu",
                 squeeze: bool = False):
        super().__init__()
        for name, v in (("d_in", d_in), ("d_out", d_out), ("width", width)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}")
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth must be a non-negative integer (hidden layers); got {depth!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is unknown; allowed: {', '.join(ACTIVATIONS)}")
        if squeeze and d_out != 1:
            raise ValueError(f"squeeze=True needs d_out=1; got d_out={d_out}")
        layers, d = [], d_in
        for _ in range(depth):
            layers += [nn.Linear(d, width), ACTIVATIONS[activation]()]
            d = width
        layers.append(nn.Linear(d, d_out))
        self.net = nn.Sequential(*layers)
        self.d_in, self.d_out, self.squeeze = d_in, d_out, squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.d_in:
            raise ValueError(f"x must have shape (batch, {self.d_in}); got {tuple(x.shape)}")
        out = self.net(x)  # (B, d_out)
        return out.squeeze(1) if self.squeeze else out
