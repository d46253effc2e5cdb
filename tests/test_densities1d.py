"""gan_course.densities1d (grid integrals of the GAN theory) and gan_course.widgets.minimax (headless)."""
import math

import matplotlib
import numpy as np
import pytest
import torch

from gan_course import densities1d as d1

matplotlib.use("Agg")


def test_simpson_is_exact_for_cubics_and_accurate_for_gaussians():
    x = d1.grid(0.0, 2.0, 5)
    assert math.isclose(d1.integrate(x ** 3 - x, x), 4.0 - 2.0, rel_tol=1e-14)
    x = d1.grid()
    assert abs(d1.integrate(d1.gaussian(x, 0.3, 0.7), x) - 1) < 1e-12
    assert np.allclose(d1.simpson_weights(d1.grid(0, 1, 5)), np.array([1, 4, 2, 4, 1]) * 0.25 / 3)


def test_grid_and_integrate_reject_bad_input():
    with pytest.raises(ValueError, match="odd number"):
        d1.grid(0, 1, 10)
    with pytest.raises(ValueError, match="lo < hi"):
        d1.grid(1, 0)
    with pytest.raises(ValueError, match="same length"):
        d1.integrate(np.zeros(5), np.zeros(7))
    with pytest.raises(ValueError, match="evenly spaced"):
        d1.integrate(np.zeros(3), np.array([0.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match="p_data='cat' is unknown; allowed values: gaussian"):
        d1.p_data("cat")
    with pytest.raises(ValueError, match="sd must be positive"):
        d1.gaussian(0.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        d1.Mixture((0.5, 0.6), (0, 1), (1, 1))
    with pytest.raises(ValueError, match="probabilities"):
        d1.value(np.full(5, 1.5), np.ones(5), np.ones(5), d1.grid(0, 1, 5))


def test_mixture_pdf_logpdf_and_samples_agree():
    m = d1.p_data("skewed")
    x = d1.grid(-10, 10, 2001)
    assert abs(d1.integrate(m.pdf(x), x) - 1) < 1e-10
    assert np.allclose(np.exp(m.logpdf(x)), 0.7 * d1.gaussian(x, -1, 0.5) + 0.3 * d1.gaussian(x, 1.5, 1.2))
    assert np.isfinite(m.logpdf(np.array([-1e3, 1e3]))).all()  # no log(0) far in the tails
    s = m.sample(100_000, torch.Generator().manual_seed(0))
    assert s.shape == (100_000, 1) and s.dtype == torch.float32
    mean = 0.7 * -1 + 0.3 * 1.5
    assert abs(s.mean().item() - mean) < 0.02


def test_optimal_discriminator_value_and_jsd_identity():
    x = d1.grid(-20, 20, 8001)
    for p_name in d1.P_DATA:
        p = d1.p_data(p_name).pdf(x)
        for mean, sd in ((0.0, 1.0), (3.0, 0.4), (-1.0, 2.0)):
            q = d1.gaussian(x, mean, sd)
            d_star = d1.optimal_discriminator(p, q)
            c = d1.generator_criterion(p, q, x)
            assert abs(c - (-d1.LOG4 + 2 * d1.jsd(p, q, x))) < 1e-9
            # V at D* given by its logit log p - log q (from log-densities) is the same number
            logit = d1.p_data(p_name).logpdf(x) - d1.log_gaussian(x, mean, sd)
            assert abs(d1.value(logit, p, q, x, logits=True) - c) < 1e-12
            # and D* beats a perturbed discriminator
            assert d1.value(logit + 0.3 * np.sin(x), p, q, x, logits=True) < c
            assert 0 <= d1.jsd(p, q, x) <= math.log(2) + 1e-12
    # where 1 - D* never rounds to 0 (similar widths), the plain formula with probabilities agrees too
    p, q = d1.gaussian(x, 0, 1), d1.gaussian(x, 0.5, 1.1)
    assert abs(d1.value(d1.optimal_discriminator(p, q), p, q, x) - d1.generator_criterion(p, q, x)) < 1e-12
    assert abs(d1.generator_criterion(p, p, x) + d1.LOG4) < 1e-12
    assert np.all(d1.optimal_discriminator(p, p) == 0.5)
    # disjoint supports: JSD = log 2, C(G) = 0; D* = 1/2 where both densities are 0
    assert d1.optimal_discriminator(np.zeros(3), np.zeros(3)).tolist() == [0.5, 0.5, 0.5]
    assert abs(d1.jsd(d1.gaussian(x, -8, 0.3), d1.gaussian(x, 8, 0.3), x) - math.log(2)) < 1e-9


def test_kl_matches_gaussian_closed_form():
    x = d1.grid(-20, 20, 8001)
    m1, s1, m2, s2 = 0.5, 0.8, -1.0, 1.7
    closed = math.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
    assert abs(d1.kl(d1.gaussian(x, m1, s1), d1.gaussian(x, m2, s2), x) - closed) < 1e-10


def test_kde_integrates_to_one_and_follows_the_samples():
    rng = np.random.default_rng(0)
    s = rng.normal(1.0, 0.5, 5000)
    x = d1.grid(-5, 5, 1001)
    k = d1.kde(s, x)
    assert abs(d1.integrate(k, x) - 1) < 1e-3
    assert abs(x[np.argmax(k)] - 1.0) < 0.15
    assert d1.jsd(k, d1.gaussian(x, 1.0, 0.5), x) < 0.01
    with pytest.raises(ValueError, match="at least 2"):
        d1.kde([1.0], x)


def test_minimax_widgets_draw_headless():
    from gan_course.widgets import minimax

    fig = minimax.explore_p_g(p_data="gaussian", mean=0.0, width=1.0, headless=True)
    assert "V(D*, G) = -1.3863" in fig.axes[0].get_title()
    x = d1.grid(-4, 4, 81)
    p = d1.gaussian(x, 0, 1)
    view = minimax.GAN1DView(x, p, headless=True, n_snapshots=3)
    with pytest.raises(RuntimeError, match="nothing was recorded"):
        view.close()
    for step in range(5):
        q = d1.gaussian(x, 1.0 / (step + 1), 1.0)
        view.update(step, p_g=q, d=d1.optimal_discriminator(p, q), d_star=d1.optimal_discriminator(p, q),
                    jsd=d1.jsd(p, q, x))
    fig = view.close()
    assert len(view.frames) == 5 and view.jsd[0] == [0, 1, 2, 3, 4]
    assert [a.get_title() for a in fig.axes[:3]] == ["step 0", "step 2", "step 4"]
    with pytest.raises(ValueError, match="n_snapshots"):
        minimax.GAN1DView(x, p, n_snapshots=0)
    with pytest.raises(ValueError, match="p_data='x' is unknown"):
        minimax.draw_p_g(matplotlib.pyplot.figure(), "x", 0.0, 1.0)
