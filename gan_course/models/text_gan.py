"""The discriminator of the text GANs: SeqGAN's CNN classifier over token sequences (Yu et al. 2017,
after Kim 2014 and Zhang & LeCun 2015), which also reads relaxed one-hot sequences (the Gumbel GAN).

    D = CNNDiscriminator(CNNConfig(vocab_size=5000, seq_len=20))
    D(tokens)           # tokens (B, T) ids               -> logits (B,)  (> 0: "real")
    D(one_hots)         # relaxed one-hots (B, T, V) float -> logits (B,)  (differentiable in the input)

Architecture: embed each token (a one-hot row times the embedding matrix, so a relaxed one-hot gives a
mixture of embeddings), convolve with windows of several widths, ReLU, max over time, concatenate,
one highway layer (Srivastava et al. 2015), dropout, a linear layer to one logit. SeqGAN's paper uses
embedding 64, widths 1..10, 15, 20 with 100-200 filters each (1,720 features): `CNNConfig.paper(...)`.
Our default is smaller (widths 2..5), sized by measurement: in a SeqGAN step D scores ~20,000 rollouts,
and the paper's D costs ~10 M multiply-adds per sequence against ~0.5 M for the default (see
benchmarks/text_gans.py), while telling the oracle's samples from MLE samples about as well.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class CNNConfig:
    vocab_size: int = 5000          # tokens 0..V-1
    seq_len: int = 20               # the length every input has (windows wider than it are dropped)
    emb: int = 32                   # token embedding width (paper: 64)
    filter_sizes: tuple = (2, 3, 4, 5)       # convolution window widths (paper: 1..10, 15, 20)
    num_filters: tuple = (64, 64, 64, 64)    # filters per width (paper: 100, 200 x 4, 100 x 5, 160, 160)
    highway: bool = True            # one highway layer over the pooled features (paper: yes)
    dropout: float = 0.25           # dropout before the output layer (paper: keep 0.75)

    @staticmethod
    def paper(vocab_size: int = 5000, seq_len: int = 20) -> "CNNConfig":
        """SeqGAN's discriminator (Yu et al. 2017, appendix): 1,720 features."""
        return CNNConfig(vocab_size, seq_len, emb=64, filter_sizes=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
                         num_filters=(100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
                         highway=True, dropout=0.25)


class CNNDiscriminator(nn.Module):
    """Multi-width CNN with max-over-time pooling and a highway layer: (B, T) ids or (B, T, V) -> (B,)."""

    def __init__(self, config: CNNConfig | None = None):
        super().__init__()
        c = config or CNNConfig()
        if len(c.filter_sizes) != len(c.num_filters) or not c.filter_sizes:
            raise ValueError(f"filter_sizes and num_filters must be non-empty and of equal length; got "
                             f"{c.filter_sizes} and {c.num_filters}")
        if any(k < 1 for k in c.filter_sizes) or any(n < 1 for n in c.num_filters):
            raise ValueError("filter sizes and filter counts must be positive integers")
        if not 0 <= c.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {c.dropout}")
        pairs = [(k, n) for k, n in zip(c.filter_sizes, c.num_filters) if k <= c.seq_len]
        if not pairs:
            raise ValueError(f"every filter is wider than seq_len={c.seq_len}: {c.filter_sizes}")
        self.config = c
        self.embed = nn.Embedding(c.vocab_size, c.emb)
        self.convs = nn.ModuleList(nn.Conv1d(c.emb, n, k) for k, n in pairs)
        width = sum(n for _, n in pairs)
        self.highway = nn.Linear(width, 2 * width) if c.highway else None
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(width, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) ids or (B, T, V) one-hots -> pooled features (B, F)."""
        V, T = self.config.vocab_size, self.config.seq_len
        if x.dim() == 2 and not x.is_floating_point():
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= V):
                raise ValueError(f"D's input ids are in {int(x.min())}..{int(x.max())}; allowed: ids in 0..{V - 1} "
                                 f"(D's vocab_size={V}; do the generator's and D's vocabularies agree?)")
            e = self.embed(x)                                         # (B, T, E)
        elif x.dim() == 3 and x.is_floating_point() and x.shape[-1] == V:
            e = x @ self.embed.weight                                 # (B, T, E): mixtures of embeddings
        else:
            raise ValueError(f"D takes token ids (B, T) or one-hot rows (B, T, V={V}) as floats; got "
                             f"shape {tuple(x.shape)} dtype {x.dtype}")
        if x.shape[1] != T:
            raise ValueError(f"sequences must have length seq_len={T}; got {x.shape[1]}")
        e = e.transpose(1, 2)                                         # (B, E, T) for Conv1d
        h = torch.cat([F.relu(conv(e)).amax(dim=2) for conv in self.convs], dim=1)  # (B, F)
        if self.highway is not None:
            g, t = self.highway(h).chunk(2, dim=1)
            gate = torch.sigmoid(t)
            h = gate * F.relu(g) + (1 - gate) * h
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.features(x))).squeeze(1)       # (B,) logits

    def macs_per_sequence(self) -> int:
        """Multiply-adds of one forward pass on one sequence (convolutions + highway + output)."""
        c, T = self.config, self.config.seq_len
        total = sum((T - conv.kernel_size[0] + 1) * conv.kernel_size[0] * c.emb * conv.out_channels
                    for conv in self.convs)
        width = self.out.in_features
        return total + (2 * width * width if self.highway is not None else 0) + width
