"""GAN and VAE losses as pure functions, each matching the formula in its docstring.

Discriminator/critic outputs are *logits* (B,) (real numbers; D(x) = sigmoid(logit) where a probability
is meant), never probabilities: log-sigmoid is computed stably from logits. Every loss is a quantity to
*minimise*. Each one is checked against its formula on random inputs in tests/test_losses.py.

Papers: Goodfellow et al. 2014 (minimax, non-saturating); Mao et al. 2017 (least squares);
Arjovsky et al. 2017 and Gulrajani et al. 2017 (Wasserstein critic, gradient penalty);
Lim & Ye 2017, Miyato et al. 2018 (hinge); Kingma & Welling 2014 (ELBO, Gaussian KL);
Burda et al. 2016 (importance-weighted bound).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------- GANs


def _check_logits(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of discriminator logits; got {type(t).__name__}")
    if t.dim() != 1:
        raise ValueError(f"{name} must have shape (batch,), the discriminator contract D(x) -> logits (B,); "
                         f"got {tuple(t.shape)}")


def d_loss_bce(real_logits, fake_logits):
    """Discriminator of the original GAN, -V(D, G):
    L_D = -E_x[log D(x)] - E_z[log(1 - D(G(z)))],  D = sigmoid(logit)."""
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def g_loss_saturating(fake_logits):
    """Generator of the minimax game (saturates when D rejects fakes):  L_G = E_z[log(1 - D(G(z)))]."""
    _check_logits("fake_logits", fake_logits)
    return F.logsigmoid(-fake_logits).mean()


def g_loss_nonsaturating(fake_logits):
    """Non-saturating generator (Goodfellow et al. 2014):  L_G = -E_z[log D(G(z))]."""
    _check_logits("fake_logits", fake_logits)
    return -F.logsigmoid(fake_logits).mean()


def d_loss_ls(real_logits, fake_logits):
    """Least-squares discriminator (LSGAN, a=0, b=1):  L_D = 1/2 E_x[(D(x) - 1)^2] + 1/2 E_z[D(G(z))^2],
    with D the raw output (no sigmoid)."""
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits ** 2).mean()


def g_loss_ls(fake_logits):
    """Least-squares generator (c=1):  L_G = 1/2 E_z[(D(G(z)) - 1)^2]."""
    _check_logits("fake_logits", fake_logits)
    return 0.5 * ((fake_logits - 1) ** 2).mean()


def d_loss_wgan(real_scores, fake_scores):
    """Wasserstein critic (to minimise):  L_C = E_z[C(G(z))] - E_x[C(x)]  (no sigmoid, no margin).
    Needs a Lipschitz constraint on C: add `gradient_penalty` (WGAN-GP)."""
    _check_logits("real_scores", real_scores)
    _check_logits("fake_scores", fake_scores)
    return fake_scores.mean() - real_scores.mean()


def g_loss_wgan(fake_scores):
    """Wasserstein generator:  L_G = -E_z[C(G(z))]."""
    _check_logits("fake_scores", fake_scores)
    return -fake_scores.mean()


def d_loss_hinge(real_logits, fake_logits):
    """Hinge discriminator:  L_D = E_x[max(0, 1 - D(x))] + E_z[max(0, 1 + D(G(z)))]."""
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_loss_hinge(fake_logits):
    """Hinge generator:  L_G = -E_z[D(G(z))]  (same as the Wasserstein generator)."""
    _check_logits("fake_logits", fake_logits)
    return -fake_logits.mean()


def gradient_penalty(critic, real, fake, weight: float = 10.0, generator=None):
    """WGAN-GP (Gulrajani et al. 2017):  weight * E_xhat[(||grad_xhat C(xhat)||_2 - 1)^2],
    xhat = eps * real + (1 - eps) * fake,  eps ~ U[0, 1] per sample. Differentiable w.r.t. the critic."""
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape; got {tuple(real.shape)} and {tuple(fake.shape)}")
    if weight < 0:
        raise ValueError(f"weight must be >= 0; got {weight}")
    # eps is drawn where `generator` lives (a CPU generator also works for a GPU batch), then moved
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), dtype=real.dtype,
                     device=generator.device if generator is not None else real.device,
                     generator=generator).to(real.device)
    xhat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(xhat)
    (grad,) = torch.autograd.grad(scores.sum(), xhat, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)  # (B,)
    return weight * ((norms - 1) ** 2).mean()


GAN_LOSSES = {
    # name: (discriminator loss, generator loss, needs gradient penalty)
    "minimax": (d_loss_bce, g_loss_saturating, False),
    "nonsaturating": (d_loss_bce, g_loss_nonsaturating, False),
    "least_squares": (d_loss_ls, g_loss_ls, False),
    "wgan_gp": (d_loss_wgan, g_loss_wgan, True),
    "hinge": (d_loss_hinge, g_loss_hinge, False),
}


def gan_loss(name: str):
    """(d_loss, g_loss, needs_gradient_penalty) for a loss name in GAN_LOSSES."""
    if name not in GAN_LOSSES:
        raise ValueError(f"loss={name!r} is unknown; allowed values: {', '.join(GAN_LOSSES)}")
    return GAN_LOSSES[name]


# ---------------------------------------------------------------------------------------- VAEs

LOG_2PI = math.log(2 * math.pi)


def _check_same_shape(**tensors):
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError("these must have the same shape: " + ", ".join(f"{k} {v}" for k, v in shapes.items()))


def _check_broadcast(**tensors):
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    try:
        torch.broadcast_shapes(*(t.shape for t in tensors.values()))
    except RuntimeError:
        raise ValueError("shapes do not broadcast: " + ", ".join(f"{k} {tuple(t.shape)}" for k, t in tensors.items())) from None


def gaussian_kl(mu, logvar):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per example, summed over latent dimensions:
    KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1).  Shapes (B, d) -> (B,)."""
    _check_same_shape(mu=mu, logvar=logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)


def gaussian_kl_two(mu_q, logvar_q, mu_p, logvar_p):
    """KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)) per example, summed over dimensions:
    1/2 sum_j (log s_p^2 - log s_q^2 + (s_q^2 + (mu_q - mu_p)^2) / s_p^2 - 1).
    mu_q, logvar_q: (..., d); mu_p, logvar_p broadcast against them (e.g. (d,) for one prior)."""
    _check_same_shape(mu_q=mu_q, logvar_q=logvar_q)
    _check_broadcast(mu_q=mu_q, mu_p=mu_p, logvar_p=logvar_p)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1).sum(-1)


def gaussian_log_prob(x, mu, logvar):
    """log N(x; mu, diag(exp(logvar))), summed over the last dimension:
    -1/2 sum_j (log 2pi + logvar_j + (x_j - mu_j)^2 / exp(logvar_j)).
    Shapes broadcast, e.g. x (K, B, d) against mu, logvar (B, d) -> (K, B)."""
    _check_broadcast(x=x, mu=mu, logvar=logvar)
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) / logvar.exp()).sum(-1)


def reparameterize(mu, logvar, generator=None):
    """z = mu + sigma * eps, eps ~ N(0, I): a sample of q whose gradient flows to mu and logvar."""
    _check_same_shape(mu=mu, logvar=logvar)
    eps = torch.randn(mu.shape, dtype=mu.dtype, device=generator.device if generator is not None else mu.device,
                      generator=generator).to(mu.device)
    return mu + (0.5 * logvar).exp() * eps


def bernoulli_log_prob(x, logits):
    """log p(x | logits) for x in [0, 1] under independent Bernoullis, summed over the last dimension:
    sum_j x_j log sigmoid(l_j) + (1 - x_j) log sigmoid(-l_j)."""
    _check_same_shape(x=x, logits=logits)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def elbo(log_px_given_z, kl, beta: float = 1.0):
    """ELBO per example:  E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))  (beta=1: the true bound)."""
    if not beta >= 0 or beta == float("inf"):     # NaN fails every comparison: refuse it too
        raise ValueError(f"beta must be >= 0 (a finite KL weight); got {beta}")
    return log_px_given_z - beta * kl


def iwae_bound(log_weights):
    """Importance-weighted bound (Burda et al. 2016) from log w_k = log p(x, z_k) - log q(z_k|x),
    shape (K, B) -> (B,):  L_K = log (1/K) sum_k w_k = logsumexp_k(log w_k) - log K.  K=1 gives the ELBO."""
    if log_weights.dim() != 2:
        raise ValueError(f"log_weights must have shape (K, batch); got {tuple(log_weights.shape)}")
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])
