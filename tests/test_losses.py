"""gan_course.losses: every loss against the formula in its docstring, computed independently here
(probabilities and plain torch ops in float64, torch.distributions, autograd by hand, finite differences)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

from gan_course import losses

DT = torch.float64


def _logits(n=64, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, generator=g, dtype=DT)


# ------------------------------------------------------------------------------------------ GAN losses

def test_d_loss_bce_is_minus_value_function():
    real, fake = _logits(64, 1), _logits(48, 2)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)  # D(x), D(G(z)) as probabilities
    v = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()  # V(D, G)
    assert torch.allclose(losses.d_loss_bce(real, fake), -v, atol=1e-12)
    # and the same as torch's binary cross-entropy with labels 1 (real) and 0 (fake)
    bce = F.binary_cross_entropy(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy(d_fake, torch.zeros_like(d_fake))
    assert torch.allclose(losses.d_loss_bce(real, fake), bce, atol=1e-12)


def test_d_loss_bce_is_stable_for_large_logits():
    real, fake = torch.tensor([60.0, -60.0]), torch.tensor([-60.0, 60.0])
    out = losses.d_loss_bce(real, fake)
    assert torch.isfinite(out)
    assert math.isclose(out.item(), 60.0, rel_tol=1e-5)  # one real at D=e^-60, one fake at D=1-e^-60: 30 + 30


def test_generator_losses_match_formulas():
    fake = _logits(100, 3)
    d = torch.sigmoid(fake)
    assert torch.allclose(losses.g_loss_saturating(fake), torch.log(1 - d).mean(), atol=1e-12)
    assert torch.allclose(losses.g_loss_nonsaturating(fake), -torch.log(d).mean(), atol=1e-12)


def test_least_squares_losses_match_formulas():
    real, fake = _logits(30, 4), _logits(20, 5)
    want_d = 0.5 * sum((r - 1) ** 2 for r in real.tolist()) / 30 + 0.5 * sum(f ** 2 for f in fake.tolist()) / 20
    assert math.isclose(losses.d_loss_ls(real, fake).item(), want_d, rel_tol=1e-12)
    want_g = 0.5 * sum((f - 1) ** 2 for f in fake.tolist()) / 20
    assert math.isclose(losses.g_loss_ls(fake).item(), want_g, rel_tol=1e-12)


def test_wasserstein_and_hinge_losses_match_formulas_and_differ():
    real, fake = _logits(40, 6), _logits(40, 7)
    r, f = real.tolist(), fake.tolist()
    assert math.isclose(losses.d_loss_wgan(real, fake).item(), sum(f) / 40 - sum(r) / 40, rel_tol=1e-12)
    assert math.isclose(losses.g_loss_wgan(fake).item(), -sum(f) / 40, rel_tol=1e-12)
    hinge = sum(max(0.0, 1 - x) for x in r) / 40 + sum(max(0.0, 1 + x) for x in f) / 40
    assert math.isclose(losses.d_loss_hinge(real, fake).item(), hinge, rel_tol=1e-12)
    assert math.isclose(losses.g_loss_hinge(fake).item(), -sum(f) / 40, rel_tol=1e-12)
    # the classic bug: a "WGAN" critic loss that is secretly a hinge (or the reverse) -- they must differ here
    assert abs(losses.d_loss_wgan(real, fake).item() - hinge) > 0.1
    # and the Wasserstein critic loss is unbounded below (no margin): scaling the scores scales the loss
    assert math.isclose(losses.d_loss_wgan(10 * real, 10 * fake).item(), 10 * losses.d_loss_wgan(real, fake).item(),
                        rel_tol=1e-12)


def test_gan_loss_registry():
    assert set(losses.GAN_LOSSES) == {"minimax", "nonsaturating", "least_squares", "wgan_gp", "hinge"}
    assert losses.gan_loss("minimax") == (losses.d_loss_bce, losses.g_loss_saturating, False)
    assert losses.gan_loss("nonsaturating")[1] is losses.g_loss_nonsaturating
    assert losses.gan_loss("wgan_gp") == (losses.d_loss_wgan, losses.g_loss_wgan, True)
    assert losses.gan_loss("hinge")[0] is losses.d_loss_hinge
    with pytest.raises(ValueError, match="loss='wgan'.*allowed values: minimax, nonsaturating"):
        losses.gan_loss("wgan")


@pytest.mark.parametrize("fn", [losses.d_loss_bce, losses.d_loss_ls, losses.d_loss_wgan, losses.d_loss_hinge])
def test_discriminator_losses_reject_bad_shapes_and_types(fn):
    ok = torch.zeros(4)
    with pytest.raises(ValueError, match=r"real_\w+ must have shape \(batch,\).*got \(4, 1\)"):
        fn(ok.unsqueeze(1), ok)
    with pytest.raises(ValueError, match=r"fake_\w+ must have shape \(batch,\)"):
        fn(ok, torch.tensor(0.0))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        fn([0.0, 1.0], ok)


@pytest.mark.parametrize("fn", [losses.g_loss_saturating, losses.g_loss_nonsaturating, losses.g_loss_ls,
                                losses.g_loss_wgan, losses.g_loss_hinge])
def test_generator_losses_reject_bad_shapes(fn):
    with pytest.raises(ValueError, match=r"must have shape \(batch,\)"):
        fn(torch.zeros(4, 1))


def test_saturating_gradient_vanishes_and_nonsaturating_does_not():
    """d/dl log(1 - sigmoid(l)) = -D and d/dl -log sigmoid(l) = -(1 - D): as D(G(z)) -> 0 (the
    discriminator confidently rejects the fakes, early in training) the first vanishes, the second -> -1."""
    d = torch.tensor([0.5, 1e-1, 1e-2, 1e-4, 1e-6], dtype=DT)
    logit = torch.logit(d).requires_grad_(True)
    (g_sat,) = torch.autograd.grad(losses.g_loss_saturating(logit) * len(d), logit)
    (g_ns,) = torch.autograd.grad(losses.g_loss_nonsaturating(logit) * len(d), logit)
    assert torch.allclose(g_sat, -d, rtol=1e-9)
    assert torch.allclose(g_ns, -(1 - d), rtol=1e-9)
    assert abs(g_sat[-1]) < 1e-5 and abs(g_ns[-1]) > 0.99
    # same direction (both push D(G(z)) up), very different size
    assert (g_sat < 0).all() and (g_ns < 0).all()
    assert (g_ns[1:].abs() / g_sat[1:].abs()).min() > 8


# --------------------------------------------------------------------------------- gradient penalty

def _eps_like(real, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), dtype=real.dtype, generator=g)


def test_gradient_penalty_linear_critic_is_known_in_closed_form():
    """C(x) = w.x + b has gradient w everywhere, so the penalty is weight * (||w|| - 1)^2 whatever eps is,
    and its gradient w.r.t. w is weight * 2 (||w|| - 1) w / ||w||."""
    torch.manual_seed(0)
    critic = torch.nn.Linear(5, 1).double()
    real, fake = torch.randn(16, 5, dtype=DT), torch.randn(16, 5, dtype=DT)
    wrapped = lambda x: critic(x).squeeze(1)
    gp = losses.gradient_penalty(wrapped, real, fake, weight=10.0)
    w = critic.weight.detach().squeeze(0)
    norm = w.norm()
    assert torch.allclose(gp, 10.0 * (norm - 1) ** 2, rtol=1e-12)
    (grad_w,) = torch.autograd.grad(gp, critic.weight)
    assert torch.allclose(grad_w.squeeze(0), 10.0 * 2 * (norm - 1) * w / norm, rtol=1e-10)
    # a unit-norm critic pays nothing
    with torch.no_grad():
        critic.weight /= critic.weight.norm()
    assert losses.gradient_penalty(wrapped, real, fake).item() < 1e-20


def test_gradient_penalty_small_network_by_hand_and_finite_differences():
    """C(x) = v . tanh(A x + c): grad_x C = A^T (v * (1 - tanh^2(A x + c))). We redo the interpolation with
    the same eps (same generator seed), compute the gradient by that formula and by central finite
    differences, and compare the penalty."""
    g = torch.Generator().manual_seed(1)
    A, c, v = (torch.randn(7, 3, generator=g, dtype=DT), torch.randn(7, generator=g, dtype=DT),
               torch.randn(7, generator=g, dtype=DT))
    critic = lambda x: torch.tanh(x @ A.T + c) @ v  # (B, 3) -> (B,)
    real, fake = torch.randn(10, 3, generator=g, dtype=DT), torch.randn(10, 3, generator=g, dtype=DT)

    gp = losses.gradient_penalty(critic, real, fake, weight=2.5, generator=torch.Generator().manual_seed(42))
    eps = _eps_like(real, 42)
    xhat = eps * real + (1 - eps) * fake  # (B, 3)
    h = torch.tanh(xhat @ A.T + c)
    grad_hand = (v * (1 - h ** 2)) @ A  # (B, 3)
    want = 2.5 * ((grad_hand.norm(dim=1) - 1) ** 2).mean()
    assert torch.allclose(gp, want, rtol=1e-10)

    step = 1e-6
    grad_fd = torch.stack([(critic(xhat + step * e) - critic(xhat - step * e)) / (2 * step)
                           for e in torch.eye(3, dtype=DT)], dim=1)  # (B, 3)
    assert torch.allclose(grad_fd, grad_hand, atol=1e-8)
    assert torch.allclose(gp, 2.5 * ((grad_fd.norm(dim=1) - 1) ** 2).mean(), rtol=1e-7)


def test_gradient_penalty_interpolates_between_real_and_fake_and_checks_inputs():
    seen = []
    def critic(x):
        seen.append(x.detach().clone())
        return x.sum(1)
    real, fake = torch.ones(50, 2), torch.zeros(50, 2)
    losses.gradient_penalty(critic, real, fake)
    xhat = seen[0]
    assert (xhat >= 0).all() and (xhat <= 1).all() and torch.allclose(xhat[:, 0], xhat[:, 1])  # one eps per row
    assert xhat[:, 0].std() > 0.1  # eps differs between samples
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(critic, real, fake[:10])
    with pytest.raises(ValueError, match="weight must be >= 0"):
        losses.gradient_penalty(critic, real, fake, weight=-1.0)


# ------------------------------------------------------------------------------------------- VAEs

def _gauss_params(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=DT), 0.8 * torch.randn(shape, generator=g, dtype=DT)


def test_gaussian_kl_matches_formula_torch_distributions_and_monte_carlo():
    mu, logvar = _gauss_params((6, 3), 0)
    sd = (0.5 * logvar).exp()
    kl = losses.gaussian_kl(mu, logvar)
    assert kl.shape == (6,)
    formula = 0.5 * (mu ** 2 + sd ** 2 - torch.log(sd ** 2) - 1).sum(1)
    assert torch.allclose(kl, formula, atol=1e-12)
    torch_kl = kl_divergence(Normal(mu, sd), Normal(torch.zeros_like(mu), torch.ones_like(sd))).sum(1)
    assert torch.allclose(kl, torch_kl, atol=1e-12)
    # Monte Carlo: KL = E_q[log q(z) - log p(z)]
    g = torch.Generator().manual_seed(1)
    z = mu + sd * torch.randn((50_000,) + mu.shape, generator=g, dtype=DT)  # (N, 6, 3)
    diff = (Normal(mu, sd).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)  # (N, 6)
    mc, se = diff.mean(0), diff.std(0) / math.sqrt(z.shape[0])
    assert ((mc - kl).abs() < 4 * se + 1e-9).all(), (mc, kl, se)
    assert (kl >= 0).all() and losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0


def test_gaussian_kl_two_matches_torch_and_reduces_to_gaussian_kl():
    mu_q, logvar_q = _gauss_params((5, 4), 2)
    mu_p, logvar_p = _gauss_params((5, 4), 3)
    kl = losses.gaussian_kl_two(mu_q, logvar_q, mu_p, logvar_p)
    want = kl_divergence(Normal(mu_q, (0.5 * logvar_q).exp()), Normal(mu_p, (0.5 * logvar_p).exp())).sum(1)
    assert torch.allclose(kl, want, atol=1e-12)
    zero = torch.zeros(4, dtype=DT)
    assert torch.allclose(losses.gaussian_kl_two(mu_q, logvar_q, zero, zero), losses.gaussian_kl(mu_q, logvar_q), atol=1e-12)
    assert losses.gaussian_kl_two(mu_q, logvar_q, mu_q, logvar_q).abs().max() < 1e-12
    with pytest.raises(ValueError, match="same shape"):
        losses.gaussian_kl_two(mu_q, logvar_q[:, :2], mu_p, logvar_p)
    with pytest.raises(ValueError, match="do not broadcast"):
        losses.gaussian_kl_two(mu_q, logvar_q, mu_p[:, :3], logvar_p)


def test_gaussian_kl_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape: mu \\(2, 3\\), logvar \\(2, 2\\)"):
        losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 2))
    with pytest.raises(TypeError, match="mu must be a torch.Tensor"):
        losses.gaussian_kl([0.0], torch.zeros(1))


def test_gaussian_log_prob_matches_torch_distributions_and_broadcasts():
    mu, logvar = _gauss_params((4, 3), 4)
    x = torch.randn(4, 3, dtype=DT)
    want = Normal(mu, (0.5 * logvar).exp()).log_prob(x).sum(-1)
    assert torch.allclose(losses.gaussian_log_prob(x, mu, logvar), want, atol=1e-12)
    xk = torch.randn(7, 4, 3, dtype=DT)  # K samples for each of 4 examples
    out = losses.gaussian_log_prob(xk, mu, logvar)
    assert out.shape == (7, 4)
    assert torch.allclose(out, Normal(mu, (0.5 * logvar).exp()).log_prob(xk).sum(-1), atol=1e-12)
    with pytest.raises(ValueError, match="do not broadcast"):
        losses.gaussian_log_prob(torch.zeros(4, 2), mu, logvar)


def test_reparameterize_samples_q_and_passes_gradients():
    mu = torch.tensor([[1.5, -2.0]], dtype=DT).expand(40_000, 2).clone().requires_grad_(True)
    logvar = torch.tensor([[0.0, math.log(0.25)]], dtype=DT).expand(40_000, 2).clone().requires_grad_(True)
    z = losses.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert z.dtype == DT
    assert torch.allclose(z.mean(0), torch.tensor([1.5, -2.0], dtype=DT), atol=0.03)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 0.5], dtype=DT), atol=0.015)
    # dz/dmu = 1 and dz/dlogvar = sigma * eps / 2 = (z - mu) / 2
    gm, gl = torch.autograd.grad(z.sum(), (mu, logvar))
    assert torch.allclose(gm, torch.ones_like(gm))
    assert torch.allclose(gl, (z - mu).detach() / 2, atol=1e-12)
    # the same generator seed gives the same sample
    z2 = losses.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, z2)
    with pytest.raises(ValueError, match="same shape"):
        losses.reparameterize(torch.zeros(3, 2), torch.zeros(3, 1))


def test_bernoulli_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(5)
    logits = 3 * torch.randn(6, 8, generator=g, dtype=DT)
    x = torch.rand(6, 8, generator=g, dtype=DT).round()
    want = Bernoulli(logits=logits).log_prob(x).sum(-1)
    assert torch.allclose(losses.bernoulli_log_prob(x, logits), want, atol=1e-12)
    # also for grey levels in [0, 1] (the formula, used for 8x8 digits scaled to [0, 1])
    xs = torch.rand(6, 8, generator=g, dtype=DT)
    p = torch.sigmoid(logits)
    assert torch.allclose(losses.bernoulli_log_prob(xs, logits), (xs * p.log() + (1 - xs) * (1 - p).log()).sum(-1), atol=1e-10)
    with pytest.raises(ValueError, match="same shape"):
        losses.bernoulli_log_prob(x[:, :4], logits)


def test_elbo_formula_and_beta():
    rec, kl = torch.tensor([-10.0, -3.0]), torch.tensor([2.0, 0.5])
    assert torch.equal(losses.elbo(rec, kl), rec - kl)
    assert torch.equal(losses.elbo(rec, kl, beta=0.5), rec - 0.5 * kl)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        losses.elbo(rec, kl, beta=-1)


def _linear_gaussian(seed=0):
    """z ~ N(0, 1) (d=1), x | z ~ N(w z + b, s^2) (D=3): log p(x) = log N(x; b, w w^T + s^2 I)."""
    g = torch.Generator().manual_seed(seed)
    w, b, s = torch.randn(3, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT), 0.7
    x = torch.randn(3, generator=g, dtype=DT)
    cov = torch.outer(w, w) + s ** 2 * torch.eye(3, dtype=DT)
    log_px = torch.distributions.MultivariateNormal(b, cov).log_prob(x)
    prec = 1 + (w @ w) / s ** 2  # the posterior p(z|x) = N(m, 1/prec)
    post = ((w @ (x - b)) / s ** 2 / prec, 1 / prec)
    def log_joint(z):  # z (..., 1) -> (...)
        return (losses.gaussian_log_prob(z, torch.zeros(1, dtype=DT), torch.zeros(1, dtype=DT))
                + losses.gaussian_log_prob(x, z * w + b, torch.full((3,), 2 * math.log(s), dtype=DT)))
    return log_px, log_joint, post


def test_iwae_bound_k1_is_elbo_and_tightens_with_k():
    log_px, log_joint, (m, v) = _linear_gaussian()
    # a deliberately poor q: the posterior's mean moved by one posterior sd, its sd doubled
    mu_q, logvar_q = (m + v ** 0.5).reshape(1), torch.log(4 * v).reshape(1)
    g = torch.Generator().manual_seed(0)

    def log_w(K, B):
        z = mu_q + (0.5 * logvar_q).exp() * torch.randn(K, B, 1, generator=g, dtype=DT)  # (K, B, 1)
        return log_joint(z) - losses.gaussian_log_prob(z, mu_q, logvar_q)  # (K, B)

    lw = log_w(1, 1000)
    assert torch.allclose(losses.iwae_bound(lw), lw[0])  # K = 1: exactly the single-sample ELBO
    # for the same K samples, log-mean-exp >= mean-log (Jensen), sample by sample
    lw = log_w(16, 1000)
    assert (losses.iwae_bound(lw) >= lw.mean(0) - 1e-12).all()
    # on average: ELBO <= L_1 ... <= L_64 <= log p(x), the gap closing
    means = [losses.iwae_bound(log_w(K, 4000)).mean().item() for K in (1, 4, 64)]
    elbo = log_w(1, 40000).mean().item()
    assert abs(means[0] - elbo) < 0.2  # both estimate the ELBO (standard errors about 0.045 and 0.01)
    assert means[0] < means[1] < means[2] < log_px.item() + 0.01
    assert log_px.item() - means[2] < 0.25 * (log_px.item() - means[0])
    # at the true posterior every weight equals p(x): the bound is exact for any K
    z = m + v ** 0.5 * torch.randn(8, 3, 1, generator=g, dtype=DT)
    lw_post = log_joint(z) - losses.gaussian_log_prob(z, m.reshape(1), v.log().reshape(1))
    assert torch.allclose(losses.iwae_bound(lw_post), log_px.expand(3), atol=1e-10)
    with pytest.raises(ValueError, match=r"shape \(K, batch\)"):
        losses.iwae_bound(torch.zeros(5))
