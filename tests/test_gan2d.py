"""Toy 2-D data, VEEGAN's mode metrics, the 2-D GAN trainer and the GAN Lab widget (headless)."""
import math

import pytest
import torch

from gan_course import gan2d, losses, train
from gan_course.data import toy2d
from gan_course.metrics import modes

SMALL = dict(width=16, depth=2, batch=32)  # tiny nets: the unit tests stay fast


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


# ------------------------------------------------------------------------------------------ data

def test_ring_and_grid_centres():
    ring = toy2d.dataset("ring8")
    assert ring.centres.shape == (8, 2) and ring.sigma == 0.02
    assert torch.allclose(ring.centres.norm(dim=1), torch.full((8,), 2.0), atol=1e-6)
    grid = toy2d.dataset("grid25")
    assert grid.centres.shape == (25, 2) and grid.sigma == 0.05
    assert sorted(set(grid.centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


@pytest.mark.parametrize("name", toy2d.DATASETS)
def test_samples_seeded_shaped_and_near_the_data(name):
    a, b = toy2d.sample(name, 2500, seed=3), toy2d.sample(name, 2500, seed=3)
    assert a.shape == (2500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, toy2d.sample(name, 2500, seed=4))
    data = toy2d.dataset(name)
    m = modes.data_metrics(a, data)
    # real data: every mode is hit and about 98.9% (2-D) or 99.7% (1-D noise off a curve) lie within 3 sigma
    assert m.modes == data.n_modes and m.high_quality > 0.97


def test_mixture_samples_have_the_right_spread():
    data = toy2d.dataset("ring8")
    x = data.sample(20000, generator=torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, data.centres).argmin(1)
    resid = x - data.centres[nearest]
    assert abs(resid.std().item() - 0.02) < 0.001
    counts = torch.bincount(nearest, minlength=8).float()
    assert (counts / counts.sum() - 1 / 8).abs().max() < 0.02  # equal weights


def test_moons_never_sample_the_bridge():
    data = toy2d.dataset("two_moons")
    x = toy2d.sample("two_moons", 5000, seed=0)
    dist = torch.cdist(x, data.centres).min(1).values
    assert (dist < 5 * data.sigma).all()


def test_data_bad_inputs():
    with pytest.raises(ValueError, match="data='rings'.*ring8"):
        toy2d.dataset("rings")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        toy2d.dataset("ring8").sample(0)
    with pytest.raises(ValueError, match="seed"):
        toy2d.sample("ring8", 10, seed=-1)


# ------------------------------------------------------------------------------------------ metrics

def test_metrics_on_hand_made_samples():
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    sigma = 0.1
    samples = torch.tensor([
        [0.0, 0.29],    # 0.29 <= 3 sigma from mode 0: high quality, mode 0
        [0.05, 0.0],    # high quality, mode 0
        [1.0, 0.31],    # 0.31 > 0.3 from mode 1: not high quality
        [0.5, 0.5],     # between everything: not high quality
    ])
    m = modes.mode_metrics(samples, centres, sigma)
    assert m.modes == 1 and m.n_modes == 3
    assert m.high_quality == pytest.approx(0.5)
    assert m.per_mode == (2, 0, 0)
    assert str(m).startswith("modes: 1/3")


def test_metrics_collapsed_and_blurry_generators():
    ring = toy2d.dataset("ring8")
    collapsed = ring.centres[0] + 0.01 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    m = modes.data_metrics(collapsed, ring)
    assert m.modes == 1 and m.high_quality > 0.99        # VEEGAN's "GAN: 1 mode, 99.3%" row
    blurry = 2.5 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    m = modes.data_metrics(blurry, ring)
    assert m.high_quality < 0.05


def test_metrics_count_nan_samples_as_bad():
    ring = toy2d.dataset("ring8")
    x = ring.centres.repeat(2, 1).clone()
    x[:8] = float("nan")
    m = modes.data_metrics(x, ring)
    assert m.modes == 8 and m.high_quality == pytest.approx(0.5)


def test_metrics_curve_pieces():
    data = toy2d.dataset("spiral")
    x = data.centres[data.mode_of < 5]  # points of the first 5 pieces only, exactly on the curve
    m = modes.data_metrics(x, data)
    assert m.modes == 5 and m.high_quality == 1.0 and m.n_modes == 20


def test_metrics_bad_inputs():
    with pytest.raises(ValueError, match="samples"):
        modes.mode_metrics(torch.zeros(5), torch.zeros(3, 2), 0.1)
    with pytest.raises(ValueError, match="centres"):
        modes.mode_metrics(torch.zeros(5, 2), torch.zeros(3, 3), 0.1)
    with pytest.raises(ValueError, match="sigma"):
        modes.mode_metrics(torch.zeros(5, 2), torch.zeros(3, 2), 0.0)


# ------------------------------------------------------------------------------------------ trainer

def _params(m):
    return torch.cat([p.detach().flatten().clone() for p in m.parameters()])


def test_d_step_changes_only_d_and_g_step_only_g():
    gan = gan2d.GAN2D(**SMALL)
    g0, d0 = _params(gan.G), _params(gan.D)
    loss = gan.d_step()
    assert math.isfinite(loss)
    assert torch.equal(_params(gan.G), g0) and not torch.equal(_params(gan.D), d0)
    d1 = _params(gan.D)
    gan.g_step()
    assert not torch.equal(_params(gan.G), g0) and torch.equal(_params(gan.D), d1)
    assert (gan.d_steps, gan.g_steps) == (1, 1)


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "least_squares", "wgan_gp", "hinge"])
def test_every_loss_trains_a_few_steps(loss):
    gan = gan2d.GAN2D(loss=loss, d_steps=2, **SMALL)
    history = gan.train(5, show_progress=False)
    assert len(history["loss_d"]) == 5 and gan.d_steps == 10 and gan.g_steps == 5
    assert all(math.isfinite(v) for _, v in history["loss_g"])
    m = gan.metrics()
    assert 0 <= m.modes <= 8 and 0.0 <= m.high_quality <= 1.0


def test_remedies_run():
    gan = gan2d.GAN2D(pack=4, spectral_norm=True, ema=0.9, decay_steps=4, data="grid25", optimizer="rmsprop", **SMALL)
    gan.train(4, show_progress=False)
    assert gan.D.net[0].in_features == 8
    assert gan.opt_g.param_groups[0]["lr"] == pytest.approx(gan.config.lr_g * 0.25)  # decayed before step 4
    assert not torch.equal(_params(gan.G_ema), _params(gan.G))
    x, grad = gan.g_gradients(10)
    assert x.shape == grad.shape == (8, 2)  # rounded down to whole packs of 4
    xs, ys, v = gan.d_surface(resolution=7)
    assert v.shape == (7, 7) and xs.shape == (7,)


def test_rejection_sampler_keeps_by_the_density_ratio_and_resets_on_a_g_step():
    gan = gan2d.GAN2D(data="grid25", **SMALL)
    gan.train(3, show_progress=False)
    rate = gan.fit_rejection(steps=5, n_ref=500, n_fake=1000)
    assert 0 < rate <= 1 and gan.D_rej is not None
    x = gan.sample(300)
    assert x.shape == (300, 2) and torch.equal(x, gan.sample(300))  # seeded
    assert torch.isfinite(x).all() and 0 <= gan.metrics().high_quality <= 1
    # the rule itself: keep x with probability min(1, exp(l(x) - M)); l = 0 on x0 > 0, -inf elsewhere
    gan.D_rej = lambda x: torch.where(x[:, 0] > 0, 0.0, float("-inf"))
    gan.rej_max = 0.0
    kept = gan.sample(400)
    assert kept.shape == (400, 2) and (kept[:, 0] > 0).all()
    assert (gan.sample(400, live=True)[:, 0] <= 0).any()  # live: G itself, no rejection
    gan.g_step()
    assert gan.D_rej is None  # G moved: the sampler no longer matches it


@pytest.mark.parametrize("kwargs, match", [(dict(steps=0), r"steps=0 is not allowed"),
                                           (dict(quantile=0.0), r"quantile=0.0 is not allowed; allowed: .*\(0, 1\]"),
                                           (dict(lr=-1.0), r"lr=-1.0 is not allowed"),
                                           (dict(n_fake=0), r"n_fake=0 is not allowed")])
def test_rejection_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        gan2d.GAN2D(**SMALL).fit_rejection(**kwargs)


def test_top_k_fakes_keeps_the_k_best_scored():
    out = torch.tensor([0.3, -2.0, 1.5, 0.0, 4.0, -1.0])
    assert torch.equal(gan2d.top_k_fakes(out, 0.5).sort().values, torch.tensor([0.3, 1.5, 4.0]))
    assert torch.equal(gan2d.top_k_fakes(out, 1.0), out)                     # 1: every fake
    assert torch.equal(gan2d.top_k_fakes(out, 0.01), torch.tensor([4.0]))    # at least one
    # the generator loss on them: the minimax loss over the k most realistic fakes only
    g_loss = losses.gan_loss("minimax")[1]
    expected = torch.log1p(-torch.sigmoid(torch.tensor([4.0, 1.5, 0.3]))).mean()
    assert g_loss(gan2d.top_k_fakes(out, 0.5)).item() == pytest.approx(expected.item(), rel=1e-6)


def test_top_k_fraction_anneals_to_its_floor_and_only_g_sees_it():
    gan = gan2d.GAN2D(top_k=0.5, top_k_gamma=0.9, **SMALL)
    assert gan.top_k_fraction() == 1.0
    gan.g_steps = 250                                   # two whole "epochs" of 100 G steps
    assert gan.top_k_fraction() == pytest.approx(0.81)
    gan.g_steps = 10_000
    assert gan.top_k_fraction() == 0.5
    assert gan2d.GAN2D(**SMALL).top_k_fraction() == 1.0  # off by default
    gan.train(2, show_progress=False)                   # trains with it
    assert math.isfinite(gan.history["loss_g"][-1][1])


def test_best_recipe_fields():
    config, steps, rejection = gan2d.best("grid25", seed=3)
    assert config.seed == 3 and steps == gan2d.BEST_STEPS["grid25"] and config.decay_steps == steps
    assert set(rejection) <= {"steps", "lr", "quantile", "batch", "n_ref", "n_fake"}
    assert config.top_k < 1 and gan2d.best("ring8")[0].top_k == 1  # top-k G training on the grid only
    with pytest.raises(ValueError, match="data='spiral' is not allowed"):
        gan2d.best("spiral")


def test_same_seed_same_run_and_reset():
    a = gan2d.GAN2D(seed=5, **SMALL)
    b = gan2d.GAN2D(seed=5, **SMALL)
    a.train(3, show_progress=False)
    b.train(3, show_progress=False)
    assert torch.equal(a.sample(50), b.sample(50))
    a.reset()
    assert a.g_steps == 0 and a.history == {}
    assert torch.equal(_params(a.G), _params(gan2d.GAN2D(seed=5, **SMALL).G))


def test_d_surface_is_a_probability_for_bce_losses():
    _, _, v = gan2d.GAN2D(loss="nonsaturating", **SMALL).d_surface(resolution=5)
    assert ((v > 0) & (v < 1)).all()


def test_g_gradients_point_downhill_on_the_generator_loss():
    gan = gan2d.GAN2D(**SMALL)
    gan.train(3, show_progress=False)
    x, direction = gan.g_gradients(64)
    loss = lambda pts: gan.g_loss_fn(gan.D(pts)).item()
    with torch.no_grad():
        assert loss(x + 1e-3 * direction / direction.norm()) < loss(x)


@pytest.mark.parametrize("field, value, match", [
    ("lr_g", -1e-4, "lr_g=-0.0001 must lie in"),
    ("lr_d", 0.0, "lr_d=0.0 must lie in"),
    ("loss", "wasserstein", "loss='wasserstein' is unknown; allowed values: minimax"),
    ("batch", 0, "batch=0 must be an integer >= 1"),
    ("data", "ring", "data='ring' is unknown"),
    ("optimizer", "adagrad", "optimizer='adagrad' is unknown"),
    ("d_steps", 0, "d_steps=0"),
    ("width", -3, "width=-3"),
    ("beta1", 1.0, "beta1=1.0 must lie in"),
    ("ema", 1.5, "ema=1.5 must lie in"),
    ("pack", 3, "batch=32 must be a multiple of pack=3"),
    ("top_k", 0.0, r"top_k=0.0 must lie in \(0, 1\]"),
    ("top_k_gamma", 1.5, r"top_k_gamma=1.5 must lie in \(0, 1\]"),
])
def test_bad_config_values_name_the_parameter(field, value, match):
    with pytest.raises(ValueError, match=match):
        gan2d.GAN2D(**{**SMALL, field: value})


def test_bad_config_types():
    with pytest.raises(TypeError, match="batch must be an integer"):
        gan2d.GAN2D(batch=32.0)
    with pytest.raises(TypeError, match="lr_g must be a finite number"):
        gan2d.GAN2D(lr_g="fast")
    with pytest.raises(ValueError, match="unknown config fields"):
        gan2d.GAN2D({"learning_rate": 1e-3})
    with pytest.raises(TypeError, match="config must be a GAN2DConfig"):
        gan2d.GAN2D(config=42)
    with pytest.raises(ValueError, match="n_steps"):
        gan2d.GAN2D(**SMALL).train(-1)


def test_nan_divergence_stops_restores_and_says_what_to_change():
    gan = gan2d.GAN2D(**SMALL)
    gan.train(30, show_progress=False)   # past a snapshot (every 25 updates)
    good = _params(gan.G)
    with torch.no_grad():               # a blow-up: poison one weight of D
        gan.D.net[0].weight[0, 0] = float("nan")
    with pytest.raises(train.TrainingDiverged, match="What to change: lower lr_d and lr_g"):
        gan.step()
    assert all(torch.isfinite(p).all() for p in list(gan.G.parameters()) + list(gan.D.parameters()))
    assert torch.isfinite(_params(gan.G)).all()
    assert _params(gan.G).shape == good.shape


# ------------------------------------------------------------------------------------------ GAN Lab widget

def test_lab_headless_trains_and_draws_without_waiting(capsys):
    import matplotlib

    matplotlib.use("Agg")
    from gan_course.widgets import gan_lab

    lab = gan_lab.GANLab(**SMALL)
    lab.show(steps=6, headless=True)
    assert lab.gan.g_steps == 6
    assert lab.metric_history[0][0] == 0 and lab.metric_history[-1][0] == 6
    assert capsys.readouterr().out.strip().startswith("modes: ")


def test_lab_buttons_controls_and_play():
    import time

    from gan_course.widgets import gan_lab

    lab = gan_lab.GANLab(**SMALL, fps=30, steps_per_frame=2)
    lab.build_ui()
    png0 = lab.image.value
    assert png0[:8] == b"\x89PNG\r\n\x1a\n"
    lab.buttons["Step D"].click()
    lab.buttons["Step G"].click()
    lab.buttons["Step both"].click()
    assert (lab.gan.d_steps, lab.gan.g_steps) == (2, 2)
    assert lab.status.value.startswith("modes: ") and "G step 2" in lab.status.value
    assert lab.image.value != png0
    # a live field changes the run in place; a structural one starts a fresh run
    lab.controls["lr_g"].value = 1e-3
    assert lab.gan.config.lr_g == pytest.approx(1e-3) and lab.gan.g_steps == 2
    lab.controls["loss"].value = "hinge"
    assert lab.gan.config.loss == "hinge" and lab.gan.g_steps == 0
    lab.controls["pack"].value = 3          # batch 32 is not a multiple of 3: the lab rounds it down
    assert (lab.gan.config.pack, lab.gan.config.batch) == (3, 30)
    # widget ranges keep values valid
    assert lab.controls["lr_d"].min == -5 and lab.controls["batch"].min >= 16 and lab.controls["d_steps"].min == 1
    lab.buttons["Play"].click()
    deadline = time.time() + 60
    while lab.gan.g_steps < 4 and time.time() < deadline:
        time.sleep(0.05)
    lab.buttons["Pause"].click()
    steps = lab.gan.g_steps
    assert steps >= 4 and lab._thread is None
    time.sleep(0.2)
    assert lab.gan.g_steps == steps         # paused means paused
    lab.buttons["Reset"].click()
    assert lab.gan.g_steps == 0 and len(lab.metric_history) == 1


def test_lab_shows_divergence_and_keeps_going():
    from gan_course.widgets import gan_lab

    lab = gan_lab.GANLab(**SMALL)
    lab.build_ui()
    with torch.no_grad():
        lab.gan.D.net[0].weight.fill_(float("nan"))
    lab.manual_step("both")
    assert "diverged" in lab.error.value and "What to change" in lab.error.value
    assert all(torch.isfinite(p).all() for p in lab.gan.D.parameters())
    with pytest.raises(ValueError, match="which="):
        lab.manual_step("x")
    with pytest.raises(ValueError, match="fps"):
        gan_lab.GANLab(fps=0, **SMALL)
