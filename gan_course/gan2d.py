"""A GAN on 2-D toy data, small enough to watch learn: the trainer behind notebook 02 and its GAN Lab.

    cfg = GAN2DConfig(data="ring8", loss="wgan_gp")
    gan = GAN2D(cfg)
    gan.train(3000)                 # or, one at a time (what the widget's buttons do):
    gan.d_step(); gan.g_step(); gan.step()
    print(gan.metrics())            # modes: 8/8   high quality: 95.2%

G and D are plain MLPs (`gan_course.models.mlp`); the losses come from `gan_course.losses.gan_loss(name)`.
Optional published remedies against mode collapse: PacGAN packing (Lin et al. 2018: D judges `pack`
samples at once, so a collapsed G is easy to spot), spectral normalisation of D (Miyato et al. 2018), the R1
penalty on real data (Mescheder et al. 2018), averaged generator weights (Yazici et al. 2019), top-k
training (Sinha et al. 2020, "Top-k Training of GANs: Improving GAN Performance by Throwing Away Bad
Samples": G's loss uses only the fakes D scores best), a learning-rate decay to zero over the run
(sharpens the modes at the end), and discriminator rejection sampling after training (Azadi et al.
2019: a fresh discriminator, fitted with G frozen, estimates the density ratio p/q and the sampler keeps
each fake with a probability that follows it).
Every step is watched by a `DivergenceGuard`: a NaN stops the run, restores the last good weights and
says what to change.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields

import torch

from . import checks, losses, runtime, train
from .data import toy2d
from .metrics import modes
from .models.mlp import ACTIVATIONS, MLP

OPTIMIZERS = ("adam", "rmsprop", "sgd")


@dataclass
class GAN2DConfig:
    data: str = "ring8"             # toy data set: ring8, grid25, spiral, two_moons
    loss: str = "nonsaturating"     # minimax, nonsaturating, least_squares, wgan_gp, hinge
    optimizer: str = "adam"         # adam, rmsprop or sgd (the same for G and D)
    lr_g: float = 1e-4              # generator learning rate
    lr_d: float = 1e-4              # discriminator (critic) learning rate
    beta1: float = 0.5              # Adam's first beta (momentum); 0.5 or 0 is usual for GANs
    beta2: float = 0.9              # Adam's second beta
    d_steps: int = 1                # discriminator updates per generator update
    width: int = 256                # hidden units per layer (G and D)
    depth: int = 3                  # hidden layers (G and D)
    latent: int = 2                 # dimension of the generator's Gaussian noise z
    batch: int = 256                # samples per update (real and fake each)
    gp_weight: float = 10.0         # gradient-penalty weight (used by wgan_gp only)
    r1_weight: float = 0.0          # >0: R1 penalty gamma/2 E_real ||grad_x D(x)||^2 (any loss)
    activation: str = "relu"        # hidden activation of G and D
    pack: int = 1                   # PacGAN: D sees `pack` samples concatenated (1 = off); divides batch
    spectral_norm: bool = False     # spectral normalisation on D's linear layers
    decay_steps: int = 0            # >0: learning rates decay linearly to 0 over this many G steps
    ema: float = 0.0                # >0: sample from an exponential moving average of G's weights
    top_k: float = 1.0              # Sinha et al. 2020: G's loss uses only the best-scored fraction of its fakes
                                    # (packs), annealed from 1 down to this floor (1 = off; the paper's nu: 0.5-0.75)
    top_k_gamma: float = 0.99       # top-k: the kept fraction is multiplied by this every 100 G steps (an "epoch")
    seed: int = 0                   # seeds weights, data and noise

    def validate(self) -> "GAN2DConfig":
        """Raise ValueError/TypeError naming the first bad field and its allowed values."""
        if self.data not in toy2d.DATASETS:
            raise ValueError(f"data={self.data!r} is unknown; allowed values: {', '.join(toy2d.DATASETS)}")
        if self.loss not in losses.GAN_LOSSES:
            raise ValueError(f"loss={self.loss!r} is unknown; allowed values: {', '.join(losses.GAN_LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is unknown; allowed values: {', '.join(OPTIMIZERS)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is unknown; allowed values: {', '.join(ACTIVATIONS)}")
        for name in ("lr_g", "lr_d", "beta1", "beta2", "gp_weight", "r1_weight", "ema", "top_k", "top_k_gamma"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TypeError(f"{name} must be a finite number; got {v!r}")
        for name in ("lr_g", "lr_d"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must lie in (0, 1]; typical values 1e-4 to 1e-3")
        for name in ("beta1", "beta2", "ema"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must lie in [0, 1)")
        for name in ("gp_weight", "r1_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 0")
        for name in ("top_k", "top_k_gamma"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must lie in (0, 1]; 1 turns top-k training off")
        for name, lo in (("d_steps", 1), ("width", 1), ("depth", 1), ("latent", 1), ("batch", 1), ("pack", 1),
                         ("decay_steps", 0), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an integer; got {v!r}")
            if v < lo:
                raise ValueError(f"{name}={v!r} must be an integer >= {lo}")
        if self.batch % self.pack:
            raise ValueError(f"batch={self.batch} must be a multiple of pack={self.pack} (PacGAN packs samples in groups)")
        if not isinstance(self.spectral_norm, bool):
            raise TypeError(f"spectral_norm must be True or False; got {self.spectral_norm!r}")
        return self


def r1_penalty(real_out: torch.Tensor, real: torch.Tensor, weight: float) -> torch.Tensor:
    """R1 (Mescheder et al. 2018):  weight/2 * E_x ||grad_x D(x)||^2 on real data, from D's outputs (B,)
    on `real` (B, d) (which must require grad). It stops D from growing steep slopes at the data, which
    damps the oscillation of the GAN game around its equilibrium."""
    (grad,) = torch.autograd.grad(real_out.sum(), real, create_graph=True)  # (B, d)
    return 0.5 * weight * grad.pow(2).sum(1).mean()


def top_k_fakes(fake_out: torch.Tensor, fraction: float) -> torch.Tensor:
    """Top-k training (Sinha et al. 2020): of D's outputs (B,) on fakes (on packs, with pack > 1), the
    k = max(1, round(fraction * B)) largest, i.e. the fakes D finds most realistic. G's loss on these alone
    ignores the fakes D rejects outright: on a mixture of Gaussians the paper finds that updates computed
    from the worst-scored fakes can push samples further away from their nearest mode."""
    k = max(1, round(fraction * fake_out.shape[0]))
    return fake_out.topk(k).values if k < fake_out.shape[0] else fake_out  # (k,)


def _check_config(config) -> GAN2DConfig:
    if isinstance(config, dict):
        unknown = set(config) - {f.name for f in fields(GAN2DConfig)}
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}; allowed: {[f.name for f in fields(GAN2DConfig)]}")
        config = GAN2DConfig(**config)
    if not isinstance(config, GAN2DConfig):
        raise TypeError(f"config must be a GAN2DConfig (or a dict of its fields); got {type(config).__name__}")
    return config.validate()


class GAN2D:
    """Generator, discriminator, optimisers and data of one 2-D GAN run; step it or train it."""

    def __init__(self, config: GAN2DConfig | dict | None = None, device="cpu", **overrides):
        config = GAN2DConfig() if config is None else config
        config = _check_config(config)
        if overrides:
            config = _check_config({**asdict(config), **overrides})
        self.config = config
        self.device = runtime.device(device) if isinstance(device, str) else torch.device(device)
        self.data = toy2d.dataset(config.data)
        self.reset()

    # ------------------------------------------------------------------------------------ set-up
    def reset(self) -> None:
        """Fresh weights, optimisers and history, from the config's seed."""
        c = self.config
        torch.manual_seed(c.seed)
        self.rng = torch.Generator().manual_seed(c.seed)  # data and noise: independent of other torch use
        self.G = MLP(c.latent, 2, c.width, c.depth, c.activation).to(self.device)
        self.D = MLP(2 * c.pack, 1, c.width, c.depth, c.activation, squeeze=True).to(self.device)
        if c.spectral_norm:
            for m in self.D.modules():
                if isinstance(m, torch.nn.Linear):
                    torch.nn.utils.parametrizations.spectral_norm(m)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if c.ema > 0 else None
        self.D_rej = None  # the rejection sampler's discriminator (fit_rejection); None: plain sampling
        self.rej_max = None  # its logit threshold M (see fit_rejection)
        self.opt_g = self._optimizer(self.G, c.lr_g)
        self.opt_d = self._optimizer(self.D, c.lr_d)
        self.d_loss_fn, self.g_loss_fn, self.needs_gp = losses.gan_loss(c.loss)
        self.guard = train.DivergenceGuard(self.G, self.D, optimizers=[self.opt_g, self.opt_d],
                                           snapshot_every=25, hint=self._hint())
        self.g_steps = 0   # generator updates so far
        self.d_steps = 0   # discriminator updates so far
        self.history = {}  # name -> list of (g_step, value)

    def _optimizer(self, module, lr):
        c = self.config
        if c.optimizer == "adam":
            return torch.optim.Adam(module.parameters(), lr=lr, betas=(c.beta1, c.beta2))
        if c.optimizer == "rmsprop":
            return torch.optim.RMSprop(module.parameters(), lr=lr)
        return torch.optim.SGD(module.parameters(), lr=lr, momentum=c.beta1)

    def _hint(self) -> str:
        c = self.config
        tips = [f"lower lr_d and lr_g (now {c.lr_d:g} and {c.lr_g:g}; try 1e-4)"]
        if c.loss == "minimax":
            tips.append("use the non-saturating loss")
        if c.loss == "wgan_gp" and c.gp_weight < 1:
            tips.append("raise gp_weight (10 is the usual value)")
        if c.optimizer == "sgd":
            tips.append("use adam")
        return ", or ".join(tips)

    def top_k_fraction(self) -> float:
        """The fraction of fakes G's loss keeps now: top_k_gamma ** (G steps / 100), floored at top_k."""
        c = self.config
        return 1.0 if c.top_k == 1 else max(c.top_k, c.top_k_gamma ** (self.g_steps // 100))

    def _lr_scale(self) -> float:
        d = self.config.decay_steps
        return 1.0 if d == 0 else max(0.0, 1.0 - self.g_steps / d)

    # ------------------------------------------------------------------------------------ data
    def real(self, n: int) -> torch.Tensor:
        return self.data.sample(n, generator=self.rng, device=self.device)  # (n, 2)

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.latent, generator=self.rng).to(self.device)  # (n, latent)

    def _pack(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 2 * self.config.pack)  # (B, 2) -> (B / pack, 2 * pack)

    # ------------------------------------------------------------------------------------ steps
    def d_step(self) -> float:
        """One discriminator update on a fresh batch; returns its loss."""
        c = self.config
        real = self._pack(self.real(c.batch)).requires_grad_(c.r1_weight > 0)
        with torch.no_grad():
            fake = self._pack(self.G(self.noise(c.batch)))
        real_out = self.D(real)
        loss = self.d_loss_fn(real_out, self.D(fake))
        if c.r1_weight > 0:
            loss = loss + r1_penalty(real_out, real, c.r1_weight)
        if self.needs_gp:
            loss = loss + losses.gradient_penalty(self.D, real, fake, weight=c.gp_weight, generator=self.rng)
        self._update(self.opt_d, loss, c.lr_d)
        self.d_steps += 1
        self._check(loss_d=loss.item())
        return loss.item()

    def g_step(self) -> float:
        """One generator update on fresh noise; returns its loss."""
        c = self.config
        fake = self._pack(self.G(self.noise(c.batch)))
        loss = self.g_loss_fn(top_k_fakes(self.D(fake), self.top_k_fraction()))
        self._update(self.opt_g, loss, c.lr_g)
        if self.G_ema is not None:  # Yazici et al. 2019: averaged weights give sharper, steadier samples
            with torch.no_grad():
                for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                    pe.lerp_(p, 1 - c.ema)
        self.g_steps += 1
        self.D_rej = None  # G moved: a fitted rejection sampler no longer matches it
        self._check(loss_g=loss.item())
        return loss.item()

    def step(self) -> dict:
        """`d_steps` discriminator updates, then one generator update; logs and returns both losses."""
        ld = sum(self.d_step() for _ in range(self.config.d_steps)) / self.config.d_steps
        lg = self.g_step()
        logs = {"loss_d": ld, "loss_g": lg}
        for k, v in logs.items():
            self.history.setdefault(k, []).append((self.g_steps, v))
        return logs

    def _update(self, opt, loss, lr):
        for group in opt.param_groups:
            group["lr"] = lr * self._lr_scale()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def _check(self, **logs):
        # the guard restores the last good weights and raises TrainingDiverged on a NaN/Inf
        self.guard.check(self.d_steps + self.g_steps, **logs)

    def train(self, n_steps: int, callbacks=(), every: int = 100, show_progress: bool = True) -> dict:
        """`n_steps` calls of `step()` through `train.loop` (progress bar, NaN guard, callbacks)."""
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
            raise ValueError(f"n_steps must be a non-negative integer; got {n_steps!r}")
        start = self.g_steps
        return train.loop(lambda i: self.step(), start + n_steps, start=start, callbacks=callbacks,
                          every=every, desc=f"{self.config.loss} on {self.config.data}",
                          show_progress=show_progress)

    # ------------------------------------------------------------------------------------ rejection
    def fit_rejection(self, steps: int = 2000, lr: float = 1e-3, quantile: float = 0.95,
                      batch: int | None = None, n_ref: int = 20_000, n_fake: int = 200_000) -> float:
        """Discriminator rejection sampling (Azadi et al. 2019), with G frozen; returns the acceptance rate.

        1. Train a fresh, unpacked discriminator D_r (G's width and depth) for `steps` BCE updates to tell
           single real samples from single fakes, its learning rate decaying from `lr` to 0. At the
           optimum D_r(x) = sigmoid(l(x)) with l(x) = log p(x) / q(x): the logit is the log density ratio
           of data p to generator q. (The training D is packed and was trained against a moving G, so
           it is not that ratio.) G is frozen, so its fakes are drawn once (`n_fake` of them) and each
           batch picks from that pool: D_r's updates, not G's forward passes, are what the time buys.
        2. Rejection sampling: draw x ~ q and keep it with probability min(1, exp(l(x) - M)). With
           M = max_x l(x) the kept samples follow p exactly (if l is exact); M = the `quantile` of l on
           `n_ref` fakes keeps more samples and only flattens the top of the ratio (DRS's gamma shift).
        Afterwards `sample()` and `metrics()` use the sampler, until the next generator step."""
        steps = checks.positive_int("steps", steps)
        lr = checks.positive_float("lr", lr)
        batch = self.config.batch if batch is None else checks.positive_int("batch", batch)
        quantile = checks.in_range("quantile", quantile, 0, 1, lo_open=True)
        n_ref = checks.positive_int("n_ref", n_ref)
        n_fake = checks.positive_int("n_fake", n_fake)
        c = self.config
        self.D_rej = None
        fakes = self.sample(n_fake, seed=c.seed + 1000).to(self.device)  # (n_fake, 2)
        pick = torch.Generator().manual_seed(c.seed + 1001)
        torch.manual_seed(c.seed + 2)
        D = MLP(2, 1, c.width, c.depth, c.activation, squeeze=True).to(self.device)
        opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.9))
        bce = losses.gan_loss("minimax")[0]  # -log D(real) - log(1 - D(fake))
        for i in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr * (1 - i / steps)
            fake = fakes[torch.randint(0, n_fake, (batch,), generator=pick).to(self.device)]  # (batch, 2)
            out = D(torch.cat([self.real(batch), fake]))  # (2 batch,): one pass over reals, then fakes
            loss = bce(out[:batch], out[batch:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if not math.isfinite(loss.item()):
                raise train.TrainingDiverged(f"the rejection discriminator's loss is {loss.item()}; lower lr (now {lr:g})")
        D.requires_grad_(False)
        with torch.no_grad():
            logits = D(self.sample(n_ref, seed=c.seed + 999).to(self.device)).cpu()  # (n_ref,)
        self.D_rej = D
        self.rej_max = float(logits.max() if quantile == 1 else logits.quantile(quantile))
        return float(torch.exp(logits - self.rej_max).clamp(max=1).mean())

    # ------------------------------------------------------------------------------------ views
    @torch.no_grad()
    def sample(self, n: int = modes.N_SAMPLES, seed: int | None = None, live: bool = False) -> torch.Tensor:
        """n generated samples (n, 2) on the CPU; `seed` fixes the noise (default: the config's seed + 1).
        With ema > 0 they come from the averaged generator, unless `live` asks for the one being trained.
        After `fit_rejection` (and unless `live`) they are the samples its rejection sampler keeps."""
        g = torch.Generator().manual_seed(self.config.seed + 1 if seed is None else seed)
        G = self.G if (self.G_ema is None or live) else self.G_ema
        if self.D_rej is None or live:
            return G(torch.randn(n, self.config.latent, generator=g).to(self.device)).cpu()
        kept, total = [], 0
        for _ in range(1000):  # candidates in chunks until n are kept
            x = G(torch.randn(max(n, 1000), self.config.latent, generator=g).to(self.device))
            accept = torch.rand(len(x), generator=g) < torch.exp(self.D_rej(x).cpu() - self.rej_max)
            kept.append(x.cpu()[accept])
            total += int(accept.sum())
            if total >= n:
                return torch.cat(kept)[:n]
        raise RuntimeError(f"the rejection sampler kept only {total} of {n} samples; refit it with a lower quantile")

    def metrics(self, n: int = modes.N_SAMPLES, seed: int | None = None) -> modes.ModeMetrics:
        """VEEGAN's modes captured and % high-quality from n samples."""
        checks.positive_int("n", n)
        return modes.data_metrics(self.sample(n, seed), self.data)

    @torch.no_grad()
    def d_surface(self, resolution: int = 60, extent: float | None = None):
        """D's output on a grid over the data's square: (xs, ys, values (res, res)); values[i, j] at (xs[j], ys[i]).
        Probabilities D(x) for the BCE losses, raw scores otherwise. With pack > 1 each point is repeated."""
        resolution = checks.positive_int("resolution", resolution)
        e = self.data.extent if extent is None else checks.positive_float("extent", extent)
        xs = torch.linspace(-e, e, resolution)
        gy, gx = torch.meshgrid(xs, xs, indexing="ij")
        pts = torch.stack([gx.flatten(), gy.flatten()], dim=1).repeat(1, self.config.pack).to(self.device)
        out = self.D(pts).cpu()  # (res * res,)
        if self.config.loss in ("minimax", "nonsaturating"):
            out = torch.sigmoid(out)
        return xs, xs, out.reshape(resolution, resolution)

    def g_gradients(self, n: int = 200, seed: int | None = None):
        """Fake samples (n, 2) and the direction each moves under the next G update, -dL_G/dx (n, 2)."""
        n = max(self.config.pack, n - n % self.config.pack)  # whole packs
        x = self.sample(n, seed, live=True).to(self.device).requires_grad_(True)
        loss = self.g_loss_fn(self.D(self._pack(x)))
        (grad,) = torch.autograd.grad(loss, x)
        return x.detach().cpu(), -grad.cpu()


# ---------------------------------------------------------------------------------------- recipes
# The settings notebook 02 teaches, found by experiment on a 2-core CPU (benchmarks/gan2d.py measures them).
RECIPE = dict(width=128, depth=3, latent=2, batch=256, pack=2, optimizer="adam", beta1=0.0, beta2=0.9,
              lr_g=1e-3, lr_d=1e-3)
RECIPE_STEPS = {"ring8": 3000, "grid25": 3000, "spiral": 3000, "two_moons": 3000}


def recipe(data: str = "ring8", loss: str = "nonsaturating", seed: int = 0, steps: int | None = None,
           **overrides) -> tuple[GAN2DConfig, int]:
    """(config, steps) of the course's cure for mode collapse: no momentum (Adam beta1 = 0), PacGAN pairs,
    a large learning rate that decays linearly to zero over the run. `steps` shortens the run (the decay
    follows); `overrides` change any field."""
    if data not in RECIPE_STEPS:
        raise ValueError(f"data={data!r} is unknown; allowed values: {', '.join(RECIPE_STEPS)}")
    n = RECIPE_STEPS[data] if steps is None else steps
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    fields_ = {**RECIPE, "data": data, "loss": loss, "seed": seed, "decay_steps": n, **overrides}
    return _check_config(fields_), n


def plain_gan(data: str = "ring8", seed: int = 0, steps: int = 2000, **overrides) -> tuple[GAN2DConfig, int]:
    """(config, steps) of the plain GAN that collapses: non-saturating loss, 3x256 MLPs, Adam with its
    default betas (0.9, 0.999) and lr 1e-3, batch 256, no remedy."""
    fields_ = dict(data=data, loss="nonsaturating", width=256, depth=3, latent=2, batch=256, optimizer="adam",
                   beta1=0.9, beta2=0.999, lr_g=1e-3, lr_d=1e-3, seed=seed)
    return _check_config({**fields_, **overrides}), checks.positive_int("steps", steps)


# The best recipe measured (issue 21): the recipe above, then discriminator rejection sampling
# (benchmarks/gan2d.py: modes and % high quality, median of 5 seeds, each run <= 90 s of CPU). On the grid
# G also trains top-k (Sinha et al. 2020), and the rejection discriminator trains twice as long at twice
# the learning rate: the sampler is only as good as its estimate of the density ratio, and the grid's
# ratio has 25 sharp peaks (attempts in benchmarks/results/gan2d.md).
BEST_LOSS = "minimax"
BEST_STEPS = {"ring8": 3000, "grid25": 3000}
BEST_OVERRIDES = {"ring8": {}, "grid25": dict(top_k=0.5, top_k_gamma=0.98)}  # config fields beyond the recipe
REJECTION = {  # fit_rejection's arguments
    "ring8": dict(steps=4000, lr=2e-3, batch=512, quantile=0.99),
    "grid25": dict(steps=8000, lr=4e-3, batch=512, quantile=0.995),
}


def best(data: str = "ring8", seed: int = 0, steps: int | None = None) -> tuple[GAN2DConfig, int, dict]:
    """(config, steps, fit_rejection arguments) of the best recipe for `data` (ring8 or grid25): train
    `steps` steps, then call `gan.fit_rejection(**arguments)` before sampling."""
    if data not in BEST_STEPS:
        raise ValueError(f"data={data!r} is not allowed; allowed: {', '.join(BEST_STEPS)}")
    config, n = recipe(data, BEST_LOSS, seed=seed, steps=BEST_STEPS[data] if steps is None else steps,
                       **BEST_OVERRIDES[data])
    return config, n, dict(REJECTION[data])
