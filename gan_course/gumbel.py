"""The Gumbel-max trick, the Gumbel-softmax (Concrete) relaxation and its straight-through variant.

Sampling a token is an argmax over noisy logits (Gumbel 1954; Maddison et al. 2014):

    x = argmax_i (logits_i + g_i),   g_i = -log(-log U_i),  U_i ~ Uniform(0, 1)

gives P(x = i) = softmax(logits)_i exactly. The argmax has no useful gradient, so a GAN whose generator
emits tokens cannot be trained by backpropagating the discriminator's score (notebook 06 shows it).
Jang et al. 2017 ("Categorical Reparameterization with Gumbel-Softmax") and Maddison et al. 2017 ("The
Concrete Distribution") replace the argmax by a softmax at a temperature tau > 0:

    y = softmax((logits + g) / tau)          a point inside the simplex, differentiable in the logits

As tau -> 0, y approaches the one-hot vector of the Gumbel-max sample; as tau grows, y approaches the
uniform vector. The straight-through estimator (Bengio et al. 2013; Jang et al. 2017) uses the hard
one-hot in the forward pass and the soft y's gradient in the backward pass:

    y_st = one_hot(argmax y) + (y - y.detach())

Temperature annealing (Jang et al. 2017: tau = max(tau_min, tau_0 exp(-r t))) starts soft, where
gradients have low variance but a large bias, and ends nearly discrete. Kusner & Hernandez-Lobato 2016
("GANs for sequences of discrete elements with the Gumbel-softmax distribution") and RelGAN (Nie et al.
2019) train text GANs this way; `GumbelGAN` below is such a GAN, pretrained by MLE as RelGAN is.

    y = gumbel_softmax(logits, tau=0.5)              # (..., V) relaxed one-hot, rows sum to 1
    y = gumbel_softmax(logits, tau=0.5, hard=True)   # one-hot forward, soft gradient backward
    idx = gumbel_max(logits)                         # exact categorical samples, no gradient
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import checks

ANNEALING = ("exponential", "linear", "constant")


def check_temperature(tau, name: str = "tau") -> float:
    """Return tau as a float; raise ValueError unless it is a finite number > 0."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"{name} (the Gumbel-softmax temperature) must be a finite number > 0 (small = nearly "
                         f"one-hot, large = nearly uniform); got {tau!r}")
    return float(tau)


def gumbel_noise(shape, generator: torch.Generator | None = None, device=None,
                 dtype=torch.float32) -> torch.Tensor:
    """Standard Gumbel noise g = -log(-log U), U ~ Uniform(0, 1), of the given shape.

    U is drawn in [tiny, 1) so that neither log is infinite (torch.rand can return exactly 0).
    """
    tiny = torch.finfo(dtype).tiny
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype).clamp_(min=tiny)
    return -torch.log(-torch.log(u))


def gumbel_max(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Exact samples of Categorical(softmax(logits)) along the last axis: argmax(logits + g). (...,) ids."""
    g = gumbel_noise(logits.shape, generator, logits.device, logits.dtype)
    return torch.argmax(logits + g, dim=-1)


def straight_through(y_soft: torch.Tensor) -> torch.Tensor:
    """One-hot of argmax(y_soft) in the forward pass, the gradient of y_soft in the backward pass."""
    idx = y_soft.argmax(dim=-1, keepdim=True)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, idx, 1.0)
    return y_hard + (y_soft - y_soft.detach())  # the bracket is exactly 0 forward: y_hard stays exact


def gumbel_softmax(logits: torch.Tensor, tau: float = 1.0, hard: bool = False,
                   generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """A relaxed one-hot sample softmax((logits + g) / tau) along the last axis, (..., V).

    hard: straight-through (one-hot forward, soft gradient backward). Its argmax is the Gumbel-max sample
          argmax(logits + g), so it is an exact categorical sample.
    noise: the Gumbel noise to use (same shape as logits), e.g. to compare temperatures on the same draw.
    """
    tau = check_temperature(tau)
    if noise is None:
        noise = gumbel_noise(logits.shape, generator, logits.device, logits.dtype)
    elif noise.shape != logits.shape:
        raise ValueError(f"noise must have the shape of logits {tuple(logits.shape)}; got {tuple(noise.shape)}")
    y = F.softmax((logits + noise) / tau, dim=-1)
    return straight_through(y) if hard else y


def temperature(step: int, tau0: float = 1.0, tau_min: float = 0.1, rate: float = 1e-3,
                schedule: str = "exponential", total: int | None = None) -> float:
    """The annealed temperature at `step`.

    exponential: max(tau_min, tau0 * exp(-rate * step))      (Jang et al. 2017)
    linear:      tau0 + (tau_min - tau0) * min(1, step / total)
    constant:    tau0
    """
    check_temperature(tau0, "tau0")
    check_temperature(tau_min, "tau_min")
    if schedule not in ANNEALING:
        raise ValueError(f"schedule={schedule!r}; allowed values: {', '.join(ANNEALING)}")
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}")
    if schedule == "constant":
        return float(tau0)
    if schedule == "exponential":
        if rate < 0:
            raise ValueError(f"rate must be >= 0; got {rate}")
        return max(float(tau_min), tau0 * math.exp(-rate * step))
    if total is None or total < 1:
        raise ValueError(f"the linear schedule needs total >= 1 steps; got total={total!r}")
    return tau0 + (tau_min - tau0) * min(1.0, step / total)


# ----------------------------------------------------------------------------------------------------
# a GAN trained through the relaxation

@dataclass
class GumbelGANConfig:
    steps: int = 300            # adversarial steps (one D step and one G step each)
    batch_size: int = 64        # sequences per step, real and generated
    lr_g: float = 1e-3          # Adam learning rate of the generator (RelGAN: 1e-4 with a larger G)
    lr_d: float = 1e-3          # Adam learning rate of the discriminator
    tau0: float = 1.0           # initial temperature
    tau_min: float = 0.1        # final temperature (RelGAN anneals to 1/100-1/1000)
    schedule: str = "exponential"  # "exponential", "linear" or "constant" (see `temperature`)
    loss: str = "rsgan"         # "rsgan" (relativistic standard GAN, RelGAN's choice) or "nonsaturating"
    clip: float = 5.0           # gradient-norm clip for both players
    mle_weight: float = 0.0     # optional MLE term added to G's loss (0 = pure adversarial)
    hard: bool = False          # straight-through: D sees exact one-hots, G gets the soft gradient

    def __post_init__(self):
        checks.fields(self, steps=checks.nonneg_int, batch_size=checks.positive_int, lr_g=checks.learning_rate,
                      lr_d=checks.learning_rate, tau0=checks.positive_float, tau_min=checks.positive_float,
                      clip=checks.clip, mle_weight=checks.nonneg_float, hard=checks.boolean)
        if self.tau_min > self.tau0:
            raise ValueError(f"GumbelGANConfig.tau_min={self.tau_min!r} is not allowed with tau0={self.tau0!r}; "
                             "allowed: 0 < tau_min <= tau0 (the temperature anneals down from tau0 to tau_min)")


GAN_LOSSES = ("rsgan", "nonsaturating")


def relaxed_rollout(G, n: int, tau: float, generator: torch.Generator | None = None, hard: bool = False):
    """Sample n sequences from a SeqGenerator G through the Gumbel-softmax, keeping the gradient.

    At each step the logits o_t give y_t = softmax((o_t + g_t) / tau) (what D sees, differentiable in
    G's weights) and the hard token argmax(o_t + g_t) (an exact sample of G) that is fed to the next
    step, as in RelGAN. hard=True returns straight-through one-hots instead of y (exactly one-hot in the
    forward pass, y's gradient in the backward pass).
    Returns (y (n, T, V) relaxed one-hots, tokens (n, T) the hard samples).
    """
    tau = check_temperature(tau)
    c = G.config
    inp = torch.full((n,), c.start_token, dtype=torch.long, device=G.device)
    state, ys, toks = None, [], []
    for _ in range(c.seq_len):
        logits, state = G.step(inp, state)                                # (n, V)
        g = gumbel_noise(logits.shape, generator, logits.device, logits.dtype)
        y = F.softmax((logits + g) / tau, dim=-1)                          # (n, V)
        inp = (logits + g).argmax(-1).detach()                             # (n,) Gumbel-max sample
        ys.append(straight_through(y) if hard else y)
        toks.append(inp)
    return torch.stack(ys, 1), torch.stack(toks, 1)


def _g_loss(kind, d_real, d_fake):
    if kind == "rsgan":  # G wants its samples to look more real than the real ones: -log sigma(D(f) - D(r))
        return F.softplus(-(d_fake - d_real)).mean()
    return F.softplus(-d_fake).mean()


def _d_loss(kind, d_real, d_fake):
    if kind == "rsgan":
        return F.softplus(-(d_real - d_fake)).mean()
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


class GumbelGAN:
    """A text GAN trained through the Gumbel-softmax: G a SeqGenerator, D takes (B, T, V) one-hots.

        gan = GumbelGAN(G, D, real_tokens, GumbelGANConfig(steps=300))
        history = gan.train(callback=lambda step, logs: ...)

    D must accept relaxed one-hot sequences (B, T, V) and return logits (B,); the real data are fed to
    it as exact one-hots. `d_step` and `g_step` are one update each; `train` alternates them, annealing
    the temperature with `temperature(step, ...)`.
    """

    def __init__(self, G, D, real: torch.Tensor, config: GumbelGANConfig | None = None,
                 generator: torch.Generator | None = None):
        c = config or GumbelGANConfig()
        if c.loss not in GAN_LOSSES:
            raise ValueError(f"loss={c.loss!r}; allowed values: {', '.join(GAN_LOSSES)}")
        temperature(0, c.tau0, c.tau_min, schedule=c.schedule, total=max(c.steps, 1))  # validates
        if real.dim() != 2 or real.shape[1] != G.config.seq_len:
            raise ValueError(f"real must be (n, seq_len={G.config.seq_len}) token ids; got {tuple(real.shape)}")
        from .seqgan import _check_vocabularies

        _check_vocabularies(G, D, real)
        self.G, self.D, self.real, self.config = G, D, real, c
        self.gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.opt_g = torch.optim.Adam(G.parameters(), lr=c.lr_g, betas=(0.9, 0.999))
        self.opt_d = torch.optim.Adam(D.parameters(), lr=c.lr_d, betas=(0.9, 0.999))
        self.step_count = 0

    def tau(self, step: int) -> float:
        c = self.config
        return temperature(step, c.tau0, c.tau_min, rate=math.log(c.tau0 / c.tau_min) / max(c.steps, 1),
                           schedule=c.schedule, total=max(c.steps, 1))

    def gen_for(self):
        """Our torch.Generator when G is on the CPU (reproducible), else None (the global generator)."""
        return self.gen if self.G.device.type == "cpu" else None

    def _real_batch(self):
        idx = torch.randint(len(self.real), (self.config.batch_size,), generator=self.gen)
        x = self.real[idx].to(self.G.device)
        return x, F.one_hot(x, self.G.config.vocab_size).float()  # (B, T), (B, T, V)

    def _d(self, x):
        out = self.D(x)
        if out.shape != (x.shape[0],):
            raise ValueError(f"the discriminator must return logits of shape (B,) = ({x.shape[0]},); "
                             f"got {tuple(out.shape)}")
        return out

    def d_step(self, tau: float) -> float:
        _, real = self._real_batch()
        with torch.no_grad():
            fake, _ = relaxed_rollout(self.G, self.config.batch_size, tau, self.gen_for(), self.config.hard)
        loss = _d_loss(self.config.loss, self._d(real), self._d(fake))
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.D.parameters(), math.inf if self.config.clip is None else self.config.clip)
        self.opt_d.step()
        return loss.item()

    def g_step(self, tau: float) -> float:
        xr, real = self._real_batch()
        fake, _ = relaxed_rollout(self.G, self.config.batch_size, tau, self.gen_for(), self.config.hard)
        loss = _g_loss(self.config.loss, self._d(real).detach(), self._d(fake))
        if self.config.mle_weight:
            loss = loss + self.config.mle_weight * self.G.nll(xr)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.G.parameters(), math.inf if self.config.clip is None else self.config.clip)
        self.opt_g.step()
        return loss.item()

    def train(self, steps: int | None = None, callback=None, every: int = 25) -> dict:
        """Alternate d_step and g_step for `steps` (default config.steps); returns the history
        {name: [(step, value), ...]} and calls callback(step, logs) every `every` steps. A NaN/Inf loss
        or weight restores the last good weights and raises `train.TrainingDiverged`."""
        from .train import DivergenceGuard, loop

        steps = self.config.steps if steps is None else steps

        def step(i):
            tau = self.tau(self.step_count)
            ld = self.d_step(tau)
            lg = self.g_step(tau)
            self.step_count += 1
            return {"loss_d": ld, "loss_g": lg, "tau": tau}

        guard = DivergenceGuard(self.G, self.D, optimizers=[self.opt_g, self.opt_d],
                                hint="lower GumbelGANConfig.lr_g and lr_d")
        t0 = time.perf_counter()
        hist = loop(step, steps, guard=guard, callbacks=[callback] if callback else (), every=every,
                    desc="Gumbel GAN")
        hist["seconds"] = time.perf_counter() - t0
        return hist
