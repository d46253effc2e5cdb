"""Variational and adversarial autoencoders for small images with discrete pixels (the 8x8 digits).

    encoder q(z|x):  x (B, D) grey levels -> MLP -> (mu, logvar), each (B, d_z)    a Gaussian, not a point
    decoder p(x|z):  z (B, d_z) -> MLP -> params of a distribution over each pixel's L grey levels:
                     "logistic"     (B, D, 2)  discretised logistic (Salimans et al. 2017), the default
                     "categorical"  (B, D, L)  a free softmax over the L levels
                     "bernoulli"    (B, D)     Bernoulli on pixel/(L-1): a continuous relaxation
    VAE  (Kingma & Welling 2014):   maximise ELBO = E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I))
    IWAE (Burda et al. 2016):       log p(x) >= L_K = E[log 1/K sum_k p(x, z_k) / q(z_k|x)] >= ELBO
    AAE  (Makhzani et al. 2015):    minimise -log p(x|z) and, instead of the KL, fool a discriminator
                                    D(z) that tells codes from samples of a prior p(z); the code is the
                                    encoder's mean by default (a deterministic encoder)

With the logistic or categorical likelihood, log p(x|z) is the log-probability of the exact image (17
levels per pixel), so the ELBO and L_K are bounds on a true discrete log-likelihood, in nats. With the
Bernoulli likelihood on pixel/16 (as often done for MNIST) the same numbers bound the "likelihood" of a
continuous relaxation: they are not comparable with a discrete model's and are not a probability of the data.

Training steps are plain functions (`vae_step`, `aae_step`) for `gan_course.train.loop`; `fit_vae`,
`fit_aae` and `load_or_fit` wrap them for notebooks that need a trained model but are about something else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks, losses
from ..data.priors import N_COMPONENTS, check_prior, sample_prior
from .mlp import MLP

LIKELIHOODS = ("categorical", "logistic", "bernoulli")


def _positive_int(name, v):
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive integer; got {v!r}")


# ------------------------------------------------------------------------------------------ configs


@dataclass
class VAEConfig:
    d_x: int = 64                       # pixels per image (8x8 digits)
    n_levels: int = 17                  # grey levels per pixel (0..16)
    d_z: int = 2                        # latent size (2: the latent map is the latent space itself)
    width: int = 128                    # hidden units of encoder and decoder MLPs
    depth: int = 2                      # hidden layers of encoder and decoder MLPs
    likelihood: str = "logistic"        # "logistic" or "categorical" (true discrete likelihoods), "bernoulli" (relaxation)
    beta: float = 1.0                   # weight of the KL term (1: the ELBO; other values: beta-VAE)
    lr: float = 1e-3                    # Adam learning rate
    batch_size: int = 128               # images per step
    steps: int = 3000                   # training steps
    eval_every: int = 250               # steps between held-out (validation) checks; the best weights are kept
    seed: int = 0                       # seed of the initial weights and the minibatch order

    def __post_init__(self):
        pos = checks.positive_int
        checks.fields(self, d_x=pos, n_levels=partial(checks.integer, minimum=2), width=pos, depth=pos,
                      beta=checks.nonneg_float, lr=checks.learning_rate, batch_size=pos, steps=checks.nonneg_int,
                      eval_every=pos, seed=checks.nonneg_int)


@dataclass
class AAEConfig:
    d_x: int = 64                       # pixels per image
    n_levels: int = 17                  # grey levels per pixel
    d_z: int = 2                        # latent size
    width: int = 128                    # hidden units of encoder and decoder
    depth: int = 2                      # hidden layers of encoder and decoder
    likelihood: str = "logistic"        # decoder likelihood, as in VAEConfig
    prior: str = "gaussian"             # the prior p(z) the codes are pushed to: gaussian, mixture10, swiss_roll
    conditional: bool = False           # label-conditioned prior: class k -> the k-th part of the prior
    stochastic: bool = False            # False: the code is the encoder's mean (Makhzani et al.'s choice); True:
                                        #   z ~ q(z|x), which lets the encoder "match" the prior with pure noise
    d_width: int = 128                  # hidden units of the code discriminator
    d_depth: int = 2                    # hidden layers of the code discriminator
    lr: float = 1e-3                    # Adam learning rate of the reconstruction phase
    lr_d: float = 1e-3                  # Adam learning rate of the discriminator
    lr_g: float = 1e-3                  # Adam learning rate of the encoder in the regularisation phase
    batch_size: int = 128               # images per step
    steps: int = 2000                   # training steps
    seed: int = 0                       # seed of the initial weights, minibatches and prior samples

    def __post_init__(self):
        pos = checks.positive_int
        checks.fields(self, d_x=pos, n_levels=partial(checks.integer, minimum=2), width=pos, depth=pos,
                      conditional=checks.boolean, stochastic=checks.boolean, d_width=pos, d_depth=pos,
                      lr=checks.learning_rate, lr_d=checks.learning_rate, lr_g=checks.learning_rate,
                      batch_size=pos, steps=checks.nonneg_int, seed=checks.nonneg_int)


# ---------------------------------------------------------------------------------------- modules


class GaussianEncoder(nn.Module):
    """q(z|x) = N(mu(x), diag(exp(logvar(x)))): x (B, d_x) floats in [0, 1] -> mu, logvar (B, d_z)."""

    def __init__(self, d_x: int, d_z: int, width: int = 256, depth: int = 2):
        super().__init__()
        _positive_int("d_x", d_x)
        if not isinstance(d_z, int) or isinstance(d_z, bool) or d_z < 1:
            raise ValueError(f"d_z (the latent size) must be a positive integer; got {d_z!r}")
        self.d_x, self.d_z = d_x, d_z
        self.net = MLP(d_x, 2 * d_z, width=width, depth=depth)

    def forward(self, x: torch.Tensor):
        h = self.net(x)                       # (B, 2 d_z)
        mu, logvar = h.chunk(2, dim=-1)       # (B, d_z) each
        return mu, logvar.clamp(-12.0, 8.0)   # keeps exp(logvar) finite early in training


class Decoder(nn.Module):
    """p(x|z): z (B, d_z) -> params; `log_prob(x_levels, params)` -> (B,) nats; `mean(params)` in [0, 1].

    likelihood="categorical": params are logits (B, D, L), a free distribution over the L levels of a pixel.
    likelihood="logistic":    params (B, D, 2) = (location m, log scale) of a logistic density, discretised
        into L bins (PixelCNN++, Salimans et al. 2017): P(k) = sigmoid((k + 1/2 - m)/s) - sigmoid((k - 1/2 - m)/s),
        with the end bins taking the tails. 2 numbers per pixel instead of L: fewer weights, less overfitting.
    likelihood="bernoulli":   params are logits (B, D) of a Bernoulli on pixel/(L-1): a continuous
        relaxation (the number is not the probability of an image).
    """

    def __init__(self, d_z: int, d_x: int, n_levels: int = 17, width: int = 256, depth: int = 2,
                 likelihood: str = "categorical"):
        super().__init__()
        if not isinstance(d_z, int) or isinstance(d_z, bool) or d_z < 1:
            raise ValueError(f"d_z (the latent size) must be a positive integer; got {d_z!r}")
        _positive_int("d_x", d_x)
        if not isinstance(n_levels, int) or n_levels < 2:
            raise ValueError(f"n_levels must be an integer >= 2; got {n_levels!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood={likelihood!r} is unknown; allowed values: {', '.join(LIKELIHOODS)}")
        self.d_z, self.d_x, self.n_levels, self.likelihood = d_z, d_x, n_levels, likelihood
        self.per_pixel = {"categorical": n_levels, "logistic": 2, "bernoulli": 1}[likelihood]
        self.net = MLP(d_z, d_x * self.per_pixel, width=width, depth=depth)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.net(z)                                            # (B, D * per_pixel)
        if self.likelihood == "bernoulli":
            return h                                               # (B, D)
        return h.view(-1, self.d_x, self.per_pixel)                # (B, D, L) or (B, D, 2)

    def _logistic(self, params: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """log P(pixel = k) under the discretised logistic; params (B, D, 2), k broadcastable to (B, D, n)."""
        top = self.n_levels - 1
        m = params[..., :1] * top / 2 + top / 2                         # (B, D, 1): location, 0 output = mid-grey
        log_s = params[..., 1:].clamp(-7.0, 7.0)                        # (B, D, 1): log scale
        inv_s = torch.exp(-log_s)
        a = (k + 0.5 - m) * inv_s                                       # upper bin edge, standardised
        b = (k - 0.5 - m) * inv_s                                       # lower bin edge
        # sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - exp(-(a - b))), a - b = 1/s: no cancellation
        inner = F.logsigmoid(a) + F.logsigmoid(-b) + torch.log(-torch.expm1(-inv_s))
        return torch.where(k == 0, F.logsigmoid(a),                     # first bin: P(x < 0.5)
                           torch.where(k == top, F.logsigmoid(-b), inner))  # last bin: P(x > L - 1.5)

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        """log P(pixel = k | z) for every level k: (B, D, L). Not defined for the Bernoulli relaxation."""
        if self.likelihood == "categorical":
            return F.log_softmax(params, dim=-1)
        if self.likelihood != "logistic":
            raise ValueError("level_log_probs needs a discrete likelihood (categorical or logistic)")
        k = torch.arange(self.n_levels, device=params.device, dtype=params.dtype)    # (L,)
        return self._logistic(params, k)                                              # (B, D, L)

    def log_prob(self, x_levels: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over pixels, (B,). x_levels: integer grey levels (B, D)."""
        if self.likelihood == "bernoulli":
            return losses.bernoulli_log_prob(x_levels.float() / (self.n_levels - 1), params)
        if self.likelihood == "logistic":   # only the observed level: L times cheaper than the full table
            return self._logistic(params, x_levels.unsqueeze(-1).to(params.dtype)).squeeze(-1).sum(-1)
        logp = self.level_log_probs(params)                                     # (B, D, L)
        return logp.gather(-1, x_levels.unsqueeze(-1)).squeeze(-1).sum(-1)       # (B,)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[pixel] / (L-1) in [0, 1], (B, D): the picture to show for a code."""
        if self.likelihood == "bernoulli":
            return torch.sigmoid(params)
        levels = torch.arange(self.n_levels, device=params.device, dtype=params.dtype)
        return (self.level_log_probs(params).exp() * levels).sum(-1) / (self.n_levels - 1)

    def sample(self, params: torch.Tensor, generator=None) -> torch.Tensor:
        """Integer grey levels (B, D) drawn from p(x|z) (the Bernoulli draws 0 or L-1)."""
        if self.likelihood == "bernoulli":
            u = torch.rand(params.shape, generator=generator).to(params.device)
            return (u < torch.sigmoid(params)).long() * (self.n_levels - 1)
        probs = self.level_log_probs(params).exp().reshape(-1, self.n_levels)
        draws = torch.multinomial(probs.cpu(), 1, generator=generator)
        return draws.view(params.shape[:2]).to(params.device)


def _check_pair(encoder: GaussianEncoder, decoder: Decoder) -> None:
    if encoder.d_z != decoder.d_z:
        raise ValueError(f"encoder and decoder disagree on the latent size: encoder.d_z={encoder.d_z}, "
                         f"decoder.d_z={decoder.d_z}")
    if encoder.d_x != decoder.d_x:
        raise ValueError(f"encoder and decoder disagree on the image size: encoder.d_x={encoder.d_x}, "
                         f"decoder.d_x={decoder.d_x}")


class _Autoencoder(nn.Module):
    """What the VAE and the AAE share: an encoder, a decoder, and a check of the input images."""

    stochastic = True   # codes are draws z ~ q(z|x); a deterministic AAE uses the mean instead

    def __init__(self, encoder: GaussianEncoder, decoder: Decoder):
        super().__init__()
        if not isinstance(encoder, GaussianEncoder):
            raise TypeError(f"encoder must be a GaussianEncoder; got {type(encoder).__name__}")
        if not isinstance(decoder, Decoder):
            raise TypeError(f"decoder must be a Decoder; got {type(decoder).__name__}")
        _check_pair(encoder, decoder)
        self.encoder, self.decoder = encoder, decoder
        self.d_x, self.d_z, self.n_levels = decoder.d_x, decoder.d_z, decoder.n_levels

    def check_x(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dtype.is_floating_point:
            raise TypeError("x must be an integer tensor of grey levels (B, d_x), e.g. digits.x_train; got "
                            + (str(x.dtype) if isinstance(x, torch.Tensor) else type(x).__name__))
        if x.dim() != 2 or x.shape[1] != self.d_x:
            raise ValueError(f"x must have shape (batch, {self.d_x}); got {tuple(x.shape)}")
        if x.numel() and (x.min() < 0 or x.max() >= self.n_levels):
            raise ValueError(f"x must hold grey levels in 0..{self.n_levels - 1}")

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / (self.n_levels - 1)                         # (B, D) in [0, 1]

    @torch.no_grad()
    def encode(self, x: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        """Codes (B, d_z): the posterior mean, or (sample=True) one draw z ~ q(z|x)."""
        self.check_x(x)
        mu, logvar = self.encoder(self.scale(x))
        return losses.reparameterize(mu, logvar, generator=generator) if sample else mu

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean pictures (B, d_x) in [0, 1] for codes z (B, d_z)."""
        if z.dim() != 2 or z.shape[1] != self.d_z:
            raise ValueError(f"z must have shape (batch, {self.d_z}); got {tuple(z.shape)}")
        return self.decoder.mean(self.decoder(z))

    def code(self, mu: torch.Tensor, logvar: torch.Tensor, generator=None) -> torch.Tensor:
        """The code the decoder (and an AAE's discriminator) sees: z ~ q(z|x), or mu if not stochastic."""
        return losses.reparameterize(mu, logvar, generator=generator) if self.stochastic else mu

    @torch.no_grad()
    def codes(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        """One code per image (B, d_z), as in training: samples of the aggregate posterior q(z) = E_x q(z|x)."""
        self.check_x(x)
        return self.code(*self.encoder(self.scale(x)), generator=generator)

    def reconstruction_log_prob(self, x: torch.Tensor, generator=None):
        """One-sample estimate of E_q[log p(x|z)] (B,), plus mu and logvar of q(z|x)."""
        self.check_x(x)
        mu, logvar = self.encoder(self.scale(x))                       # (B, d_z) each
        z = self.code(mu, logvar, generator=generator)                 # (B, d_z)
        return self.decoder.log_prob(x, self.decoder(z)), mu, logvar


class VAE(_Autoencoder):
    """A VAE with a standard normal prior. `terms(x)` -> per-image (log p(x|z), KL); `iwae(x, k)`."""

    def terms(self, x: torch.Tensor, generator=None):
        """(rec, kl), each (B,): rec = one-sample E_q[log p(x|z)], kl = KL(q(z|x) || N(0, I)) closed form."""
        rec, mu, logvar = self.reconstruction_log_prob(x, generator=generator)
        return rec, losses.gaussian_kl(mu, logvar)

    def elbo(self, x: torch.Tensor, beta: float = 1.0, generator=None) -> torch.Tensor:
        rec, kl = self.terms(x, generator=generator)
        return losses.elbo(rec, kl, beta=beta)                         # (B,)

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, k: int, generator=None) -> torch.Tensor:
        """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for k draws z_k ~ q(z|x): (k, B)."""
        self.check_x(x)
        _positive_int("k", k)
        mu, logvar = self.encoder(self.scale(x))                       # (B, d_z)
        mu_k, logvar_k = mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape)  # (k, B, d_z)
        z = losses.reparameterize(mu_k, logvar_k, generator=generator)            # (k, B, d_z)
        log_q = losses.gaussian_log_prob(z, mu_k, logvar_k)                        # (k, B)
        log_pz = losses.gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
        logits = self.decoder(z.reshape(-1, self.d_z))                             # (k B, D[, L])
        log_px = self.decoder.log_prob(x.repeat(k, 1), logits).view(k, -1)        # (k, B)
        return log_px + log_pz - log_q

    @torch.no_grad()
    def iwae(self, x: torch.Tensor, k: int = 100, chunk: int = 100, generator=None) -> torch.Tensor:
        """The importance-weighted bound L_k (B,) in nats; k=1 is an unbiased estimate of the ELBO.
        Computed `chunk` draws at a time, so k=5000 fits in memory."""
        _positive_int("k", k)
        _positive_int("chunk", chunk)
        parts = [self.log_weights(x, min(chunk, k - i), generator=generator) for i in range(0, k, chunk)]
        return losses.iwae_bound(torch.cat(parts, 0))                  # (B,)

    @torch.no_grad()
    def sample(self, n: int, generator=None) -> torch.Tensor:
        """Mean pictures (n, d_x) decoded from z ~ N(0, I)."""
        z = torch.randn(n, self.d_z, generator=generator).to(next(self.parameters()).device)
        return self.decode(z)


class AAE(_Autoencoder):
    """Encoder + decoder + code discriminator D([z, onehot(y)]) -> logits (B,), for a prior p(z).

    stochastic=False (the default): the code is the encoder's mean mu(x), a deterministic encoder as in
    most of Makhzani et al.'s experiments; the logvar head is then unused. With stochastic=True the code is
    z ~ q(z|x), and nothing stops the encoder from matching the prior by making q(z|x) = p(z) for every x,
    a code that carries no information (the AAE version of posterior collapse)."""

    def __init__(self, encoder: GaussianEncoder, decoder: Decoder, prior: str = "gaussian",
                 conditional: bool = False, d_width: int = 128, d_depth: int = 2, stochastic: bool = False):
        super().__init__(encoder, decoder)
        check_prior(prior, self.d_z, conditional)
        self.prior, self.conditional, self.stochastic = prior, bool(conditional), bool(stochastic)
        d_in = self.d_z + (N_COMPONENTS if conditional else 0)   # the label rides along with the code
        self.discriminator = MLP(d_in, 1, width=d_width, depth=d_depth, activation="leaky_relu", squeeze=True)

    def discriminate(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B,) that z came from the prior (rather than from the encoder)."""
        if self.conditional:
            if y is None:
                raise ValueError("this AAE has a label-conditioned prior: pass the labels y (B,)")
            z = torch.cat([z, F.one_hot(y, N_COMPONENTS).float()], 1)   # (B, d_z + 10)
        return self.discriminator(z)

    def sample_prior(self, n: int, labels=None, generator=None) -> torch.Tensor:
        dev = next(self.parameters()).device
        return sample_prior(self.prior, n, self.d_z, labels=labels if self.conditional else None,
                            generator=generator, device=dev)

    @torch.no_grad()
    def sample(self, n: int, labels=None, generator=None) -> torch.Tensor:
        """Mean pictures (n, d_x) decoded from z ~ p(z) (for a conditional prior: from class `labels`)."""
        if self.conditional and labels is None:
            labels = torch.arange(n) % N_COMPONENTS
        return self.decode(self.sample_prior(n, labels=labels, generator=generator))


# ------------------------------------------------------------------------------------ construction


def build_vae(cfg: VAEConfig, device=None) -> VAE:
    torch.manual_seed(cfg.seed)
    enc = GaussianEncoder(cfg.d_x, cfg.d_z, cfg.width, cfg.depth)
    dec = Decoder(cfg.d_z, cfg.d_x, cfg.n_levels, cfg.width, cfg.depth, cfg.likelihood)
    return VAE(enc, dec).to(device or "cpu")


def build_aae(cfg: AAEConfig, device=None) -> AAE:
    check_prior(cfg.prior, cfg.d_z, cfg.conditional)   # fail before building anything
    torch.manual_seed(cfg.seed)
    enc = GaussianEncoder(cfg.d_x, cfg.d_z, cfg.width, cfg.depth)
    dec = Decoder(cfg.d_z, cfg.d_x, cfg.n_levels, cfg.width, cfg.depth, cfg.likelihood)
    return AAE(enc, dec, cfg.prior, cfg.conditional, cfg.d_width, cfg.d_depth, cfg.stochastic).to(device or "cpu")


# ---------------------------------------------------------------------------------- training steps


def vae_step(model: VAE, opt: torch.optim.Optimizer, x: torch.Tensor, beta: float = 1.0, generator=None) -> dict:
    """One step of gradient ascent on the (beta-)ELBO. Returns per-image nats: elbo (beta=1), rec, kl."""
    rec, kl = model.terms(x, generator=generator)                  # (B,), (B,)
    loss = -losses.elbo(rec, kl, beta=beta).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"elbo": (rec - kl).mean().item(), "rec": rec.mean().item(), "kl": kl.mean().item()}


def aae_step(model: AAE, opt_ae, opt_d, opt_g, x: torch.Tensor, y: torch.Tensor | None = None,
             generator=None) -> dict:
    """One AAE step = the two phases of Makhzani et al. 2015, Sec. 2:
    1. reconstruction: encoder + decoder minimise -log p(x|z), z = the code of x (`model.code`);
    2. regularisation: D learns prior samples (label 1) from codes (label 0), then the encoder is
       updated to fool D (non-saturating generator loss). No KL term anywhere.
    Returns: rec (nats per image), loss_d, loss_g, d_acc (D's accuracy on this batch)."""
    d_loss_fn, g_loss_fn, _ = losses.gan_loss("nonsaturating")
    if model.conditional and y is None:
        raise ValueError("a label-conditioned AAE step needs the labels y (B,)")
    # 1. reconstruction phase
    rec, mu, logvar = model.reconstruction_log_prob(x, generator=generator)
    opt_ae.zero_grad(set_to_none=True)
    (-rec.mean()).backward()
    opt_ae.step()
    # 2a. discriminator: prior samples are "real", codes are "fake"
    with torch.no_grad():
        mu, logvar = model.encoder(model.scale(x))
        z_fake = model.code(mu, logvar, generator=generator)                     # (B, d_z)
    z_real = model.sample_prior(len(x), labels=y, generator=generator)           # (B, d_z)
    real_logits, fake_logits = model.discriminate(z_real, y), model.discriminate(z_fake, y)
    loss_d = d_loss_fn(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # 2b. encoder as generator: make codes look like prior samples
    mu, logvar = model.encoder(model.scale(x))
    z = model.code(mu, logvar, generator=generator)
    loss_g = g_loss_fn(model.discriminate(z, y))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    acc = 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean())
    return {"rec": rec.mean().item(), "loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_acc": acc.item()}


def aae_optimizers(model: AAE, cfg: AAEConfig):
    """(opt_ae, opt_d, opt_g): encoder+decoder; discriminator; encoder alone (regularisation phase)."""
    opt_ae = torch.optim.Adam(list(model.encoder.parameters()) + list(model.decoder.parameters()), lr=cfg.lr)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr_d, betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(model.encoder.parameters(), lr=cfg.lr_g, betas=(0.5, 0.9))
    return opt_ae, opt_d, opt_g


# --------------------------------------------------------------------------- fit (for other notebooks)


@torch.no_grad()
def mean_elbo(model: VAE, x: torch.Tensor, n_samples: int = 10, beta: float = 1.0) -> float:
    """ELBO in nats per image, averaged over the images and `n_samples` draws of z each."""
    return float(torch.stack([model.elbo(x, beta=beta) for _ in range(n_samples)]).mean())


class KeepBest:
    """Early stopping without stopping: every `every` steps score the model on held-out images and keep a
    copy of the best weights; `restore()` puts them back at the end. Call as a `train.loop` callback."""

    def __init__(self, model: VAE, x_valid: torch.Tensor, every: int, beta: float = 1.0):
        self.model, self.x_valid, self.every, self.beta = model, x_valid, every, beta
        self.best, self.best_step, self.state, self.history = -math.inf, None, None, []

    def __call__(self, step: int, logs: dict) -> None:
        if (step + 1) % self.every:
            return
        score = mean_elbo(self.model, self.x_valid, n_samples=5, beta=self.beta)
        self.history.append((step, score))
        logs["valid_elbo"] = score
        if score > self.best:
            self.best, self.best_step = score, step
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self) -> None:
        if self.state is not None:
            self.model.load_state_dict(self.state)


def fit_vae(cfg: VAEConfig, x_train, y_train, x_valid=None, device=None, callbacks=()):
    """Train a VAE with `vae_step` for cfg.steps steps (the loop notebook 04 writes out); with x_valid,
    keep the weights with the best validation (beta-)ELBO. Returns (model, history)."""
    from ..data.digits import batches
    from ..train import DivergenceGuard, loop

    model = build_vae(cfg, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    data = batches(x_train, y_train, cfg.batch_size, torch.Generator().manual_seed(cfg.seed))
    dev = next(model.parameters()).device
    keep = KeepBest(model, x_valid.to(dev), cfg.eval_every, cfg.beta) if x_valid is not None and len(x_valid) else None

    def step(i):
        x, _ = next(data)
        return vae_step(model, opt, x.to(dev), beta=cfg.beta)

    guard = DivergenceGuard(model, optimizers=[opt], hint="lower VAEConfig.lr")
    history = loop(step, cfg.steps, guard=guard, callbacks=([keep] if keep else []) + list(callbacks),
                   every=1, desc=f"VAE d_z={cfg.d_z} beta={cfg.beta:g}")
    if keep:
        keep.restore()
        history["valid_elbo"] = keep.history
    return model, history


def fit_aae(cfg: AAEConfig, x_train, y_train, device=None, callbacks=()):
    """Train an AAE with `aae_step` for cfg.steps steps (the loop notebook 05 writes out). Returns (model, history)."""
    from ..data.digits import batches
    from ..train import DivergenceGuard, loop

    model = build_aae(cfg, device)
    opts = aae_optimizers(model, cfg)
    data = batches(x_train, y_train, cfg.batch_size, torch.Generator().manual_seed(cfg.seed))
    dev = next(model.parameters()).device

    def step(i):
        x, y = next(data)
        return aae_step(model, *opts, x.to(dev), y.to(dev) if cfg.conditional else None)

    guard = DivergenceGuard(model, optimizers=list(opts), hint="lower AAEConfig.lr_d and lr_g")
    history = loop(step, cfg.steps, guard=guard, callbacks=list(callbacks), every=1,
                   desc=f"AAE {cfg.prior}{' (label-conditioned)' if cfg.conditional else ''}")
    return model, history


def load_or_fit(path, cfg, x_train, y_train, x_valid=None, device=None, callbacks=(), retrain: bool = False):
    """Load a trained VAE/AAE from `path` if it holds one with exactly this config, else train it with
    `fit_vae`/`fit_aae` and save it there. Returns (model, history, loaded). A file at `path` that is not
    this kind's checkpoint is refused, never overwritten (see `checkpoint.reusable`; retrain=True replaces it)."""
    from .. import checkpoint

    kind = "vae_digits" if isinstance(cfg, VAEConfig) else "aae_digits"
    if not isinstance(cfg, (VAEConfig, AAEConfig)):
        raise TypeError(f"cfg must be a VAEConfig or an AAEConfig; got {type(cfg).__name__}")
    ck = checkpoint.reusable(path, kind=kind, config=cfg, retrain=retrain)
    if ck is not None:
        model = (build_vae if kind == "vae_digits" else build_aae)(cfg, device)
        checkpoint.load_state(model, ck["state"]["model"], path)
        history = {k: [tuple(p) for p in v] for k, v in ck["extra"]["history"].items()}
        return model, history, True
    checks.writable_dir("path (its folder)", Path(path).parent)
    if kind == "vae_digits":
        model, history = fit_vae(cfg, x_train, y_train, x_valid, device, callbacks)
    else:
        model, history = fit_aae(cfg, x_train, y_train, device, callbacks)
    checkpoint.save(path, kind=kind, config=cfg, step=cfg.steps, state={"model": model.state_dict()},
                    extra={"history": {k: [list(p) for p in v] for k, v in history.items()}})
    return model, history, False
