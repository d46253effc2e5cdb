"""gan_course.models.sentence_vae and gan_course.widgets.sentence_latent: the objective's pieces against
their formulas, the importance-weighted NLL against the exact likelihood (1-D latent, quadrature), active
units, decoding, load-or-train, and the widget's messages for bad input."""
import math

import pytest
import torch

from gan_course import losses
from gan_course.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab
from gan_course.models import sentence_vae as sv
from gan_course.widgets import sentence_latent as sl
from tiny_data import V, tiny_sentences as _seqs


def _cfg(**kw):
    base = dict(vocab_size=V, emb=8, hidden=16, d_z=3, steps=5, batch_size=8)
    base.update(kw)
    return sv.SentenceVAEConfig(**base)


# ------------------------------------------------------------------------------------ pure pieces

def test_kl_weight_schedules():
    assert sv.kl_weight(0, "constant") == 1.0
    assert sv.kl_weight(50, "linear", 100) == 0.5 and sv.kl_weight(500, "linear", 100) == 1.0
    assert sv.kl_weight(50, "sigmoid", 100) == pytest.approx(0.5)
    assert sv.kl_weight(0, "sigmoid", 100) == pytest.approx(1 / (1 + math.exp(5)))
    assert sv.kl_weight(100, "sigmoid", 100) > 0.99
    assert sv.kl_weight(25, "cyclical", 100) == 0.5 and sv.kl_weight(75, "cyclical", 100) == 1.0
    assert sv.kl_weight(125, "cyclical", 100) == 0.5
    with pytest.raises(ValueError, match="schedule='cosine'.*allowed"):
        sv.kl_weight(0, "cosine")
    with pytest.raises(ValueError, match="warmup"):
        sv.kl_weight(0, "linear", 0)


def test_kl_per_dim_sums_to_gaussian_kl():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    assert torch.allclose(sv.kl_per_dim(mu, logvar).sum(1), losses.gaussian_kl(mu, logvar))


def test_free_bits_formula_and_gradient():
    kl = torch.tensor([[0.1, 2.0, 0.3], [0.3, 1.0, 0.1]], requires_grad=True)
    # per-dimension batch means: 0.2, 1.5, 0.2 -> max(0.5, .) = 0.5, 1.5, 0.5
    assert sv.free_bits_kl(kl, 0.5).item() == pytest.approx(2.5)
    assert sv.free_bits_kl(kl, 0.0).item() == pytest.approx(kl.sum(1).mean().item())
    sv.free_bits_kl(kl, 0.5).backward()
    assert torch.equal(kl.grad[:, [0, 2]], torch.zeros(2, 2))   # below the floor: no gradient
    assert torch.allclose(kl.grad[:, 1], torch.full((2,), 0.5))  # above: the mean's gradient
    with pytest.raises(ValueError, match="free_bits must be >= 0"):
        sv.free_bits_kl(kl, -1.0)
    with pytest.raises(ValueError, match="kl_dims must have shape"):
        sv.free_bits_kl(kl.sum(1), 0.0)


def test_vae_objective_is_negative_elbo():
    g = torch.Generator().manual_seed(1)
    rec = torch.rand(6, generator=g) * 10
    mu, logvar = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    kl = losses.gaussian_kl(mu, logvar)
    want = -losses.elbo(-rec, kl).mean()
    assert torch.allclose(sv.vae_objective(rec, sv.kl_per_dim(mu, logvar)), want)
    assert torch.allclose(sv.vae_objective(rec, sv.kl_per_dim(mu, logvar), beta=0.0), rec.mean())
    with pytest.raises(ValueError, match="beta must be >= 0"):
        sv.vae_objective(rec, sv.kl_per_dim(mu, logvar), beta=-1)


def test_word_dropout():
    x = torch.tensor([[BOS_ID, 5, 6, 7, PAD_ID], [BOS_ID, 8, 9, PAD_ID, PAD_ID]])
    assert torch.equal(sv.word_dropout(x, 0.0), x)
    all_dropped = sv.word_dropout(x, 1.0)
    assert torch.equal(all_dropped, torch.tensor([[BOS_ID, UNK_ID, UNK_ID, UNK_ID, PAD_ID],
                                                  [BOS_ID, UNK_ID, UNK_ID, PAD_ID, PAD_ID]]))
    big = torch.full((200, 50), 7)
    rate = (sv.word_dropout(big, 0.3, torch.Generator().manual_seed(0)) == UNK_ID).float().mean().item()
    assert abs(rate - 0.3) < 0.01
    with pytest.raises(ValueError, match="probability"):
        sv.word_dropout(x, 1.5)


def test_bucket_batches_cover_every_sentence_once_per_pass():
    seqs = _seqs(50)
    it = sv.bucket_batches(seqs, 8, torch.Generator().manual_seed(0), pool=3)
    seen = []
    while len(seen) < 50:
        seen += [tuple(s) for s in next(it)]
    assert sorted(seen) == sorted(tuple(s) for s in seqs)
    with pytest.raises(ValueError, match="empty"):
        next(sv.bucket_batches([], 4))


def test_active_units_and_interpolate():
    mu = torch.stack([torch.linspace(-1, 1, 100), torch.full((100,), 0.3), 0.05 * torch.linspace(-1, 1, 100)], 1)
    n, a = sv.active_units(mu)
    assert n == 1 and a[0] > 0.3 and a[1] == 0 and a[2] < 0.01
    z = sv.interpolate(torch.zeros(3), torch.ones(3), 5)
    assert z.shape == (5, 3) and torch.equal(z[0], torch.zeros(3)) and torch.equal(z[-1], torch.ones(3))
    assert torch.allclose(z[2], torch.full((3,), 0.5))
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        sv.interpolate(torch.zeros(3), torch.ones(3), 1)


# ------------------------------------------------------------------------------------------ the model

def test_forward_shapes_and_rec_nll_is_cross_entropy():
    m = sv.build(_cfg())
    inputs, targets = sv.vae_batch(_seqs(6))
    logits, rec, kl = m(inputs, targets, generator=torch.Generator().manual_seed(0))
    assert logits.shape == (*inputs.shape, V) and rec.shape == (6,) and kl.shape == (6, 3)
    lp = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(rec, -(lp * (targets != PAD_ID)).sum(1), atol=1e-5)


def test_encoder_ignores_padding():
    m = sv.build(_cfg())
    s = _seqs(1)[0]
    _, t1 = sv.vae_batch([s])
    t2 = torch.cat([t1, torch.zeros(1, 4, dtype=torch.long)], 1)   # the same sentence with more <pad>
    assert torch.allclose(m.encode(t1)[0], m.encode(t2)[0], atol=1e-6)


def test_iw_nll_matches_exact_likelihood_with_a_1d_latent():
    """d_z = 1: log p(x) = log int p(x|z) N(z; 0, 1) dz by quadrature; the IW estimate with many samples
    must approach it, and k = 1 (the ELBO) must be above it on average. q(z|x) is made wider than the
    posterior so that the importance weights are bounded (a narrower q gives heavy-tailed weights and a
    noisy estimate)."""
    torch.manual_seed(0)
    m = sv.build(_cfg(d_z=1))
    with torch.no_grad():
        m.encoder.out.weight.mul_(0.1)
        m.encoder.out.bias.copy_(torch.tensor([0.3, 0.5]))       # q = N(~0.3, ~1.6): wide, off-centre
    seqs = _seqs(4, seed=3)
    grid = torch.linspace(-8, 8, 801).unsqueeze(1)                # (G, 1)
    exact = []
    with torch.no_grad():
        for s in seqs:
            inputs, targets = sv.vae_batch([s])
            logp = -sv.rec_nll(m.decoder(inputs.expand(len(grid), -1), grid), targets.expand(len(grid), -1)) \
                + losses.gaussian_log_prob(grid, torch.zeros(1), torch.zeros(1))       # (G,)
            exact.append(-(torch.logsumexp(logp, 0) + math.log(grid[1, 0] - grid[0, 0])))
    exact = torch.stack(exact)                                    # NLL per sentence
    g = torch.Generator().manual_seed(0)
    iw = sv.iw_nll(m, seqs, k=2000, generator=g)
    elbo = torch.stack([sv.iw_nll(m, seqs, k=1, generator=g) for _ in range(100)]).mean(0)
    assert torch.allclose(iw, exact, atol=0.03), (iw, exact)
    assert (elbo > exact + 0.02).all() and (elbo - exact).mean() > 0.05, (elbo, exact)


def test_generate_greedy_is_deterministic_and_pads_after_eos():
    m = sv.build(_cfg())
    z = m.sample_prior(5, torch.Generator().manual_seed(0))
    a, b = m.generate(z, max_len=7), m.generate(z, max_len=7)
    assert torch.equal(a, b) and a.shape == (5, 7)
    s = m.generate(z, max_len=7, greedy=False, temperature=2.0, generator=torch.Generator().manual_seed(1))
    for row in s.tolist():
        if EOS_ID in row:
            assert all(t == PAD_ID for t in row[row.index(EOS_ID) + 1:])
    with pytest.raises(ValueError, match="z must have shape"):
        m.generate(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        m.generate(z, greedy=False, temperature=0.0)


def test_bad_config_and_inputs():
    with pytest.raises(ValueError, match="kl_schedule='fast'.*allowed"):
        sv.build(_cfg(kl_schedule="fast"))
    with pytest.raises(ValueError, match="word_dropout"):
        sv.build(_cfg(word_dropout=2.0))
    with pytest.raises(ValueError, match="free_bits"):
        sv.build(_cfg(free_bits=-0.1))
    with pytest.raises(ValueError, match="must see z"):
        sv.build(_cfg(z_to_init=False, z_to_input=False))
    with pytest.raises(ValueError, match="d_z must be a positive integer"):
        sv.build(_cfg(d_z=0))
    m = sv.build(_cfg())
    with pytest.raises(ValueError, match="ids in 0..11"):
        m.encode(torch.tensor([[3, 99]]))
    with pytest.raises(ValueError, match="LongTensor"):
        m.encode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same shape"):
        m(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        sv.iw_nll(m, _seqs(2), k=0)


def test_training_reduces_the_loss_and_load_or_fit_round_trips(tmp_path):
    seqs = _seqs(32)
    cfg = _cfg(steps=30, lr=1e-2, kl_schedule="linear", kl_warmup=30, word_dropout=0.2, free_bits=0.1)
    path = tmp_path / "svae.pt"
    m1, h1, loaded1 = sv.load_or_fit(cfg, seqs, path)
    assert not loaded1 and path.is_file()
    rec = [v for _, v in h1["rec"]]
    assert sum(rec[-10:]) / 10 < sum(rec[:10]) / 10
    assert [b for _, b in h1["beta"]][:3] == [0.0, 1 / 30, 2 / 30]
    m2, h2, loaded2 = sv.load_or_fit(cfg, seqs, path)
    assert loaded2 and h2 == h1
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    m3, _, loaded3 = sv.load_or_fit(_cfg(steps=2), seqs, path)         # another config: retrained
    assert not loaded3
    r = sv.evaluate(m1, seqs[:10], k=4, generator=torch.Generator().manual_seed(0))
    assert set(r) == {"nll", "nll_se", "nll_per_token", "kl", "active_units", "ppl"} and r["nll"] > 0


# ------------------------------------------------------------------------------------------ the widget

def _vocab():
    return Vocab(["<pad>", "<bos>", "<eos>", "<unk>", "good", "night", ",", "sweet", "prince", ".", "what", "?"])


def test_parse_sentence_messages():
    v = _vocab()
    ids, notes = sl.parse_sentence("Good night, sweet prince.", v, 8)
    assert v.decode(ids) == ["good", "night", ",", "sweet", "prince", "."] and notes == []
    ids, notes = sl.parse_sentence("good night, Horatio", v, 8)
    assert UNK_ID in ids and "horatio" in notes[0] and "<unk>" in notes[0]
    with pytest.raises(ValueError, match="sentence A is empty"):
        sl.parse_sentence("   ", v, 8, "sentence A")
    with pytest.raises(ValueError, match="empty"):
        sl.parse_sentence("%%% ###", v, 8)
    with pytest.raises(ValueError, match="has 9 tokens.*at most 8"):
        sl.parse_sentence("good " * 9, v, 8)
    with pytest.raises(TypeError, match="must be a str"):
        sl.parse_sentence(None, v, 8)


def test_homotopy_and_headless_widgets(capsys):
    m = sv.build(_cfg())
    v = _vocab()
    lines, notes = sl.homotopy(m, v, "good night .", "what ?", steps=4)
    assert len(lines) == 4 and notes == []
    lines2, _ = sl.homotopy(m, v, "good night .", "what ?", steps=4, decoding="sampled", seed=3)
    assert len(lines2) == 4
    with pytest.raises(ValueError, match="decoding='beam'"):
        sl.homotopy(m, v, "good", "what", decoding="beam")
    sl.interpolation_widget(m, v, "good night .", "", headless=True)        # empty B: a message, no crash
    assert "cannot interpolate: sentence B is empty" in capsys.readouterr().out
    sl.interpolation_widget(m, v, "good night .", "what ? " * 20, headless=True)
    assert "at most 16" in capsys.readouterr().out
    sl.prior_widget(m, v, n=3, headless=True)
    assert "3 sentences from z ~ N(0, I)" in capsys.readouterr().out
    assert len(sl.prior_sentences(m, v, 5)) == 5


def test_lm_early_stopping_keeps_the_lowest_validation_weights(tmp_path):
    from gan_course.models.lm import LMConfig

    train, valid = _seqs(64, seed=1), _seqs(16, seed=2)
    cfg = LMConfig(vocab_size=V, emb=8, hidden=16)
    lm, hist = sv.fit_lm(cfg, train, steps=12, batch_size=8, lr=3e-2, valid_seqs=valid, valid_every=3)
    steps_, vals = zip(*hist["valid_nll"])
    assert steps_ == (2, 5, 8, 11)                                       # every 3 steps and the last
    (best_step, best), = hist["best_step"]
    assert best == min(vals) and best_step == steps_[vals.index(best)]
    n_tok = sum(len(v) - 1 for v in valid)
    assert float(sv.lm_nll(lm, valid).sum()) / n_tok == pytest.approx(best, rel=1e-5)   # the kept weights
    per_tok = [v for _, v in hist["nll_tok"]]
    assert len(per_tok) == 12 and all(0 < v < 10 for v in per_tok)
    # the checkpoint's config names the validation lines: a run without them is not reused
    path = tmp_path / "lm.pt"
    _, _, loaded = sv.load_or_fit_lm(cfg, train, path, 4, batch_size=8, valid_seqs=valid, valid_every=2)
    _, _, again = sv.load_or_fit_lm(cfg, train, path, 4, batch_size=8, valid_seqs=valid, valid_every=2)
    _, _, other = sv.load_or_fit_lm(cfg, train, path, 4, batch_size=8)
    assert (loaded, again, other) == (False, True, False)


def test_evaluate_standard_error_and_per_line_values():
    torch.manual_seed(0)
    model = sv.build(_cfg())
    seqs = _seqs(20, seed=3)
    r = sv.evaluate(model, seqs, k=3, generator=torch.Generator().manual_seed(0), per_line=True)
    nll = r["per_line"]
    assert nll.shape == (20,) and r["nll"] == pytest.approx(float(nll.mean()))
    assert r["nll_se"] == pytest.approx(float(nll.std(unbiased=True)) / math.sqrt(20))
    mu, kl = sv.posterior_stats(model, seqs)
    assert r["kl_dims"].shape == (3,) and float(r["kl_dims"].sum()) == pytest.approx(float(kl.mean()), rel=1e-5)
    assert "per_line" not in sv.evaluate(model, seqs, k=3)
