"""VAE / AAE on the 8x8 digits: data split, priors, likelihoods, ELBO/IWAE, training steps, MMD, widgets."""
import math

import pytest
import torch

from gan_course import losses
from gan_course.data import digits, priors
from gan_course.metrics.mmd import BANDWIDTHS, mmd2, mmd_permutation_test, rbf_mixture_kernel
from gan_course.models import vae as V


@pytest.fixture(scope="module")
def data():
    return digits.load_digits_split()


def small_vae(likelihood="logistic", d_z=2, seed=0):
    return V.build_vae(V.VAEConfig(d_z=d_z, width=32, depth=1, likelihood=likelihood, seed=seed))


# ------------------------------------------------------------------------------------------- data


def test_split_is_fixed_disjoint_and_stratified(data):
    again = digits.load_digits_split()
    assert torch.equal(data.x_test, again.x_test) and torch.equal(data.y_train, again.y_train)
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (1297, 200, 300)
    assert data.x_train.dtype == torch.int64 and data.x_train.shape[1] == 64
    assert int(data.x_train.min()) == 0 and int(data.x_train.max()) == 16
    # a partition of the 1,797 images: together the three splits are the whole set, each image once
    from sklearn.datasets import load_digits
    every = sorted(map(tuple, load_digits().data.astype(int).tolist()))
    ours = sorted(map(tuple, torch.cat([data.x_train, data.x_valid, data.x_test]).tolist()))
    assert ours == every
    assert data.y_test.bincount().min() >= 29          # stratified: about 30 of each class
    s = digits.scale(data.x_train)
    assert s.dtype == torch.float32 and float(s.min()) == 0.0 and float(s.max()) == 1.0


def test_split_bad_input():
    with pytest.raises(ValueError, match="n_test"):
        digits.load_digits_split(n_test=-1)
    with pytest.raises(ValueError, match="fewer than 100"):
        digits.load_digits_split(n_test=1000, n_valid=700)
    with pytest.raises(TypeError, match="levels"):
        digits.scale([1, 2])


def test_pixel_baseline_beats_uniform(data):
    nll = digits.pixel_marginal_nll(data.x_train, data.x_test)
    assert 80 < nll < 64 * math.log(17)


def test_batches_cover_an_epoch(data):
    g = torch.Generator().manual_seed(0)
    it = digits.batches(data.x_train, data.y_train, 100, g)
    seen = torch.cat([next(it)[1] for _ in range(len(data.x_train) // 100)])
    assert len(seen) == 1200
    with pytest.raises(ValueError, match="batch_size"):
        next(digits.batches(data.x_train, data.y_train, 0, g))


# ----------------------------------------------------------------------------------------- priors


@pytest.mark.parametrize("name", priors.PRIORS)
def test_priors_sample_shapes_and_scale(name):
    g = torch.Generator().manual_seed(0)
    z = priors.sample_prior(name, 2000, 2, generator=g)
    assert z.shape == (2000, 2) and torch.isfinite(z).all()
    r = z.norm(dim=1)
    if name == "gaussian":
        assert abs(float(z.mean())) < 0.1 and abs(float(z.std()) - 1) < 0.05
    if name == "mixture10":
        assert abs(float(r.mean()) - priors.MIXTURE_RADIUS) < 0.2
    if name == "swiss_roll":   # radius grows with the angle: from 1.5 pi / 3 to 4.5 pi / 3
        assert 1.0 < float(r.min()) and float(r.max()) < 5.5


def test_conditional_priors_put_each_class_in_its_part():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat(100)
    z = priors.sample_prior("mixture10", 1000, 2, labels=y, generator=g)
    angle = torch.atan2(z[:, 1], z[:, 0]) % (2 * math.pi)
    nearest = torch.round(angle / (2 * math.pi / 10)).long() % 10
    assert (nearest == y).float().mean() > 0.95
    z = priors.sample_prior("swiss_roll", 1000, 2, labels=y, generator=g)
    r = z.norm(dim=1)
    means = torch.stack([r[y == k].mean() for k in range(10)])
    assert (means[1:] > means[:-1]).all()       # later classes further out along the roll


def test_prior_bad_input():
    with pytest.raises(ValueError, match="unknown; allowed values: gaussian, mixture10, swiss_roll"):
        priors.sample_prior("laplace", 10, 2)
    with pytest.raises(ValueError, match="2-D only"):
        priors.sample_prior("mixture10", 10, 3)
    with pytest.raises(ValueError, match="no components"):
        priors.sample_prior("gaussian", 10, 2, labels=torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must"):
        priors.sample_prior("mixture10", 10, 2, labels=torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match="latent size"):
        priors.sample_prior("gaussian", 10, 0)
    with pytest.raises(ValueError, match="unknown; allowed values"):
        V.build_aae(V.AAEConfig(prior="uniform"))


# ------------------------------------------------------------------------------------ likelihoods


@pytest.mark.parametrize("likelihood", ["categorical", "logistic"])
def test_discrete_likelihoods_are_normalised(likelihood):
    torch.manual_seed(0)
    dec = V.Decoder(2, 64, 17, 16, 1, likelihood)
    params = dec(torch.randn(5, 2) * 3)
    if likelihood == "logistic":
        params = params * 5        # extreme locations and scales too
    lp = dec.level_log_probs(params)                         # (5, 64, 17)
    assert lp.shape == (5, 64, 17) and torch.isfinite(lp).all()
    assert torch.allclose(lp.exp().sum(-1), torch.ones(5, 64), atol=1e-5)
    x = torch.randint(0, 17, (5, 64))
    assert torch.allclose(dec.log_prob(x, params), lp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1), atol=1e-4)
    m = dec.mean(params).detach()
    assert m.shape == (5, 64) and float(m.min()) >= 0 and float(m.max()) <= 1
    s = dec.sample(params, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 64) and s.dtype == torch.int64 and int(s.max()) <= 16


def test_discretised_logistic_matches_its_formula():
    """P(k) = sigmoid((k + 1/2 - m)/s) - sigmoid((k - 1/2 - m)/s), end bins take the tails."""
    dec = V.Decoder(2, 1, 17, 4, 1, "logistic")
    params = torch.tensor([[[0.1, 0.3]]])                     # m = 8.8, s = e^0.3
    m, s = 8 + 0.1 * 8, math.exp(0.3)
    sig = lambda t: 1 / (1 + math.exp(-t))
    want = [sig((k + 0.5 - m) / s) - (sig((k - 0.5 - m) / s) if k > 0 else 0.0) if k < 16 else 1 - sig((k - 0.5 - m) / s)
            for k in range(17)]
    got = dec.level_log_probs(params).exp()[0, 0]
    assert torch.allclose(got.double(), torch.tensor(want, dtype=torch.float64), atol=1e-6)


def test_bernoulli_likelihood_is_the_losses_formula():
    torch.manual_seed(0)
    dec = V.Decoder(2, 64, 17, 16, 1, "bernoulli")
    logits = dec(torch.randn(4, 2))
    x = torch.randint(0, 17, (4, 64))
    p = x.float() / 16
    want = (p * torch.nn.functional.logsigmoid(logits) + (1 - p) * torch.nn.functional.logsigmoid(-logits)).sum(-1)
    assert torch.allclose(dec.log_prob(x, logits), want, atol=1e-4)


# ------------------------------------------------------------------------------------ ELBO / IWAE


def test_elbo_terms_use_the_losses_formulas(data):
    model = small_vae()
    x = data.x_test[:16]
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    rec, kl = model.terms(x, generator=g1)
    mu, logvar = model.encoder(digits.scale(x))
    z = losses.reparameterize(mu, logvar, generator=g2)
    assert torch.allclose(kl, losses.gaussian_kl(mu, logvar))
    assert torch.allclose(rec, model.decoder.log_prob(x, model.decoder(z)))
    assert (kl >= 0).all()


def test_iwae_is_at_least_the_elbo_on_average(data):
    torch.manual_seed(0)
    model = small_vae()
    x = data.x_test[:64]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([model.elbo(x, generator=g) for _ in range(50)]).mean(0)   # (B,), ~ the exact ELBO
    iw1 = model.iwae(x, k=1, generator=g)
    iw = model.iwae(x, k=200, chunk=64, generator=g)
    assert iw.shape == (64,)
    assert float(iw.mean()) > float(elbo.mean())
    assert abs(float(iw1.mean()) - float(elbo.mean())) < 0.1 * abs(float(elbo.mean()))
    # K=1: log w is exactly log p(x|z) + log p(z) - log q(z|x) = rec - (log q - log p), whose mean over q is the ELBO
    lw = model.log_weights(x, 1, generator=torch.Generator().manual_seed(1))
    assert lw.shape == (1, 64)


def test_vae_step_changes_the_weights_and_raises_the_elbo(data):
    torch.manual_seed(0)
    model = small_vae()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    before = [p.detach().clone() for p in model.parameters()]
    x = data.x_train[:128]
    first = V.vae_step(model, opt, x)
    assert set(first) == {"elbo", "rec", "kl"}
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    for _ in range(60):
        last = V.vae_step(model, opt, x)
    assert last["elbo"] > first["elbo"] + 5


@pytest.mark.parametrize("conditional", [False, True])
def test_aae_step_changes_every_part(data, conditional):
    cfg = V.AAEConfig(width=32, depth=1, d_width=16, prior="mixture10", conditional=conditional)
    model = V.build_aae(cfg)
    opts = V.aae_optimizers(model, cfg)
    parts = {n: [p.detach().clone() for p in getattr(model, n).parameters()] for n in ("encoder", "decoder", "discriminator")}
    logs = V.aae_step(model, *opts, data.x_train[:64], data.y_train[:64] if conditional else None)
    assert set(logs) == {"rec", "loss_d", "loss_g", "d_acc"} and all(math.isfinite(v) for v in logs.values())
    for n, old in parts.items():
        assert any(not torch.equal(a, b) for a, b in zip(old, getattr(model, n).parameters())), n
    assert 0 <= logs["d_acc"] <= 1


def test_aae_codes_are_the_mean_unless_stochastic(data):
    x = data.x_test[:16]
    det = V.build_aae(V.AAEConfig(width=16, depth=1, d_width=8))
    assert torch.equal(det.codes(x), det.encode(x))                      # deterministic: z = mu(x)
    sto = V.build_aae(V.AAEConfig(width=16, depth=1, d_width=8, stochastic=True))
    torch.manual_seed(0)
    assert not torch.equal(sto.codes(x), sto.encode(x))                  # z ~ q(z|x)
    vae = small_vae()
    torch.manual_seed(0)
    c1 = vae.codes(x)
    torch.manual_seed(0)
    assert torch.equal(c1, vae.encode(x, sample=True))


def test_fit_keeps_the_best_weights_and_load_or_fit_loads(tmp_path, data):
    cfg = V.VAEConfig(width=16, depth=1, steps=6, batch_size=32, eval_every=2)
    model, hist, loaded = V.load_or_fit(tmp_path / "v.pt", cfg, data.x_train, data.y_train, data.x_valid[:50])
    assert not loaded and len(hist["elbo"]) == 6 and [s for s, _ in hist["valid_elbo"]] == [1, 3, 5]
    best = max(v for _, v in hist["valid_elbo"])
    torch.manual_seed(0)
    assert abs(V.mean_elbo(model, data.x_valid[:50], n_samples=5) - best) < 0.05 * abs(best)   # the kept weights
    again, hist2, loaded = V.load_or_fit(tmp_path / "v.pt", cfg, data.x_train, data.y_train, data.x_valid[:50])
    assert loaded and hist2 == hist
    x = data.x_test[:4]
    assert torch.equal(again.encode(x), model.encode(x))
    # another config: retrained, not silently loaded
    _, _, loaded = V.load_or_fit(tmp_path / "v.pt", V.VAEConfig(width=16, depth=1, steps=3, batch_size=32),
                                 data.x_train, data.y_train)
    assert not loaded
    acfg = V.AAEConfig(width=16, depth=1, d_width=8, steps=3, batch_size=32)
    aae, hist, loaded = V.load_or_fit(tmp_path / "a.pt", acfg, data.x_train, data.y_train)
    assert not loaded and len(hist["rec"]) == 3
    assert aae.sample(6).shape == (6, 64)
    with pytest.raises(TypeError, match="VAEConfig or an AAEConfig"):
        V.load_or_fit(tmp_path / "x.pt", {"d_z": 2}, data.x_train, data.y_train)


# -------------------------------------------------------------------------------------- bad input


def test_latent_size_zero_is_refused():
    with pytest.raises(ValueError, match="latent size"):
        V.GaussianEncoder(64, 0)
    with pytest.raises(ValueError, match="latent size"):
        V.Decoder(0, 64)
    with pytest.raises(ValueError, match="latent size"):
        V.build_vae(V.VAEConfig(d_z=0))
    with pytest.raises(ValueError, match="latent size"):
        V.build_aae(V.AAEConfig(d_z=0))


def test_mismatched_encoder_and_decoder_are_refused():
    with pytest.raises(ValueError, match="latent size: encoder.d_z=2, decoder.d_z=3"):
        V.VAE(V.GaussianEncoder(64, 2), V.Decoder(3, 64))
    with pytest.raises(ValueError, match="image size: encoder.d_x=64, decoder.d_x=32"):
        V.VAE(V.GaussianEncoder(64, 2), V.Decoder(2, 32))
    with pytest.raises(TypeError, match="decoder must be a Decoder"):
        V.VAE(V.GaussianEncoder(64, 2), torch.nn.Linear(2, 64))


def test_bad_images_and_options_are_refused(data):
    model = small_vae()
    with pytest.raises(TypeError, match="integer tensor of grey levels"):
        model.elbo(digits.scale(data.x_test[:4]))
    with pytest.raises(ValueError, match=r"shape \(batch, 64\)"):
        model.elbo(data.x_test[:4, :32])
    with pytest.raises(ValueError, match="grey levels in 0..16"):
        model.elbo(data.x_test[:4] + 1)
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 2\)"):
        model.decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="likelihood='gauss' is unknown; allowed values: categorical, logistic, bernoulli"):
        V.Decoder(2, 64, likelihood="gauss")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        model.iwae(data.x_test[:4], k=0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        model.elbo(data.x_test[:4], beta=-1)
    aae = V.build_aae(V.AAEConfig(width=16, depth=1, prior="mixture10", conditional=True))
    with pytest.raises(ValueError, match="needs the labels"):
        V.aae_step(aae, *V.aae_optimizers(aae, V.AAEConfig()), data.x_test[:4])


# ------------------------------------------------------------------------------------------- MMD


def test_mmd_matches_its_formula():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 2, generator=g), torch.randn(5, 2, generator=g) + 1
    k = lambda a, b: sum(math.exp(-float((a - b).pow(2).sum()) / (2 * s * s)) for s in BANDWIDTHS)
    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(5)) / 35
    assert abs(mmd2(x, y) - (xx + yy - 2 * xy)) < 1e-6
    assert torch.allclose(rbf_mixture_kernel(x, x).diagonal(), torch.full((7,), float(len(BANDWIDTHS)), dtype=torch.float64))


def test_mmd_is_about_zero_for_a_sample_with_itself_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g)
    assert abs(mmd2(x, x)) < 0.02                    # unbiased: -2 (k(x,x) - mean k) / n, tiny
    assert abs(mmd2(x, y)) < 0.03                    # same distribution: noise of order 1/n
    values = [mmd2(x, y + shift) for shift in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in zip(values, values[1:])), values
    assert values[-1] > 1.0
    _, p_same = mmd_permutation_test(x[:150], y[:150], 99, generator=g)
    _, p_shift = mmd_permutation_test(x[:150], y[:150] + 0.5, 99, generator=g)
    assert p_same > 0.05 and p_shift <= 0.02


def test_mmd_bad_input():
    with pytest.raises(ValueError, match="same dimension"):
        mmd2(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 2 samples"):
        mmd2(torch.zeros(1, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="bandwidths"):
        mmd2(torch.zeros(3, 2), torch.zeros(3, 2), bandwidths=(1.0, 0.0))


# ---------------------------------------------------------------------------------------- widgets


def test_widgets_draw_headless(data, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    from gan_course.widgets import latent as W

    model = small_vae()
    codes = model.encode(data.x_test[:50])
    fig = W.latent_traversal(model.decode, 2, codes=codes, labels=data.y_test[:50], headless=True)
    assert len(fig.axes) == 2
    recon = model.decode(codes[:10])
    sweep = [{"beta": b, "rate": 10 / b, "distortion": 80 + b, "recon": recon, "samples": model.sample(20)} for b in (0.5, 1, 2)]
    fig = W.beta_explorer(sweep, digits.scale(data.x_test[:10]), headless=True)
    assert len(fig.axes) == 3
    runs = {"gaussian": {"prior": torch.randn(50, 2), "codes": codes, "labels": data.y_test[:50], "samples": recon, "mmd": 0.1}}
    fig = W.prior_explorer(runs, headless=True)
    assert len(fig.axes) == 2
    assert W.image_grid(recon, ncol=5).shape == (17, 44)
    with pytest.raises(ValueError, match="d_z must be an integer in 1..8"):
        W.latent_traversal(model.decode, 9, headless=True)
    with pytest.raises(ValueError, match="sweep must be"):
        W.beta_explorer([{"beta": 1}], recon, headless=True)
