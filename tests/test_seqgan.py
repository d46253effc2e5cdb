"""gan_course.seqgan: the fast sampler, Monte Carlo rollouts, rollout rewards, REINFORCE with a
baseline (unbiased on a problem whose gradient is computed exactly by enumeration), collapse detection,
and bad inputs. Everything runs on tiny generators (vocabulary 3-20, length 3-6)."""
import itertools
import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_course import seqgan
from gan_course.models.oracle import SeqGenConfig, SeqGenerator
from gan_course.models.text_gan import CNNConfig, CNNDiscriminator


def _G(V=3, T=3, seed=0, std=1.0):
    torch.manual_seed(seed)
    return SeqGenerator(SeqGenConfig(vocab_size=V, seq_len=T, emb=4, hidden=4, init_std=std))


class TableD(nn.Module):
    """A fixed 'discriminator': logit = sum_t w[t, x_t] (a known function of the sequence)."""

    def __init__(self, V, T, seed=0, first_only=False):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w = 2 * torch.randn(T, V, generator=g)
        if first_only:
            w[1:] = 0
        self.w = nn.Parameter(w, requires_grad=False)

    def forward(self, x):
        return self.w[torch.arange(x.shape[1]), x].sum(1)


def _all_sequences(V, T):
    return torch.tensor(list(itertools.product(range(V), repeat=T)))


# ---------------------------------------------------------------------------------------- sampling

def test_sample_categorical_matches_softmax_frequencies():
    g = torch.Generator().manual_seed(0)
    logits = 2 * torch.randn(1, 250, generator=g)   # 250 is not a multiple of the block size (100)
    logits[0, [3, 249]] = -float("inf")               # impossible tokens, one in the padded last block
    n = 100_000
    ids = seqgan.sample_categorical(logits.expand(n, -1).contiguous(), g)
    freq = torch.bincount(ids, minlength=250).double() / n
    p = torch.softmax(logits[0].double(), 0)
    se = (p * (1 - p) / n).sqrt()
    assert ((freq - p).abs() < 5 * se + 2e-4).all()
    assert freq[3] == 0 and freq[249] == 0 and ids.max() < 250


# ---------------------------------------------------------------------------------------- rollouts

def test_prefix_states_match_a_full_forward_pass():
    G = _G(V=20, T=6)
    x = torch.randint(0, 20, (5, 6))
    h, c = seqgan.prefix_states(G, x)
    full, _ = G.lstm(G.embed(G.inputs_for(x)))                  # (B, T, H)
    assert h.shape == (5, 5, 4) and c.shape == (5, 5, 4)
    assert torch.allclose(h, full[:, 1:].transpose(0, 1), atol=1e-6)


def test_rollout_shapes_and_prefixes():
    G = _G(V=20, T=6)
    x = torch.randint(0, 20, (7, 6))
    r = seqgan.rollout(G, x, n_rollouts=4, generator=torch.Generator().manual_seed(0))
    assert r.shape == (5, 4, 7, 6) and r.dtype == torch.long
    for t in range(1, 6):
        assert torch.equal(r[t - 1, :, :, :t], x[:, :t].expand(4, 7, t))
    assert (r >= 0).all() and (r < 20).all()


def test_rollout_continuations_follow_the_generator():
    """Completions of the prefix y_1 have the law p_G(y_2, y_3 | y_1), computed exactly."""
    G = _G()
    x = torch.tensor([[2, 0, 0]])
    n = 20_000
    r = seqgan.rollout(G, x.expand(n, 3).contiguous(), n_rollouts=1, generator=torch.Generator().manual_seed(2))
    comp = r[0, 0]                                               # (n, 3): prefix length 1
    xs = _all_sequences(3, 3)
    xs = xs[xs[:, 0] == 2]                                       # the 9 sequences starting with 2
    with torch.no_grad():
        p = G.log_probs(xs)[:, 1:].sum(1).exp()                  # p(y_2, y_3 | y_1 = 2)
    code = (comp[:, 1:] * torch.tensor([3, 1])).sum(1)
    freq = torch.bincount(code, minlength=9).double() / n
    assert ((freq - p).abs() < 5 * (p * (1 - p) / n).sqrt() + 1e-3).all()


def test_rollout_rewards_last_column_is_d_and_first_token_d_gives_constant_rewards():
    G = _G(V=5, T=4)
    D = TableD(5, 4, first_only=True)                            # depends on y_1 only
    x = G.sample(16, generator=torch.Generator().manual_seed(0))
    r = seqgan.rollout_rewards(G, D, x, n_rollouts=3)
    assert r.shape == (16, 4)
    d = torch.sigmoid(D(x))
    assert torch.allclose(r[:, -1], d)                           # full sequence: D's own score
    assert torch.allclose(r, d.unsqueeze(1).expand(16, 4), atol=1e-6)   # every rollout keeps y_1


def test_bad_rollout_count_and_bad_discriminator_shape():
    G = _G(V=5, T=4)
    x = torch.randint(0, 5, (3, 4))
    for bad in (0, -1, 1.5, True, "16"):
        with pytest.raises(ValueError, match="n_rollouts"):
            seqgan.rollout(G, x, bad)

    class Wrong(nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 2)

    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        seqgan.rollout_rewards(G, Wrong(), x, 2)
    with pytest.raises(ValueError, match="seq_len"):
        seqgan.rollout(G, torch.randint(0, 5, (3, 5)), 2)


# ---------------------------------------------------------------------------------------- REINFORCE

def _exact_gradient(G, D):
    """grad of J = sum_x p_G(x) sigmoid(D(x)) by enumerating every sequence."""
    V, T = G.config.vocab_size, G.config.seq_len
    xs = _all_sequences(V, T)
    G.zero_grad()
    J = (G.log_probs(xs).sum(1).exp() * torch.sigmoid(D(xs))).sum()
    J.backward()
    return torch.cat([p.grad.flatten() for p in G.parameters()]).clone()


def _estimates(G, D, kind, n_chunks=40, B=500, N=4, seed=0):
    """n_chunks independent REINFORCE estimates of grad J (each the mean over B sequences)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_chunks):
        x = G.sample(B, generator=g)
        r = seqgan.rollout_rewards(G, D, x, N, g)
        G.zero_grad()
        seqgan.reinforce_loss(G.log_probs(x), r, kind).backward()
        out.append(-torch.cat([p.grad.flatten() for p in G.parameters()]))  # the loss is minus J
    return torch.stack(out)


def test_reinforce_with_rollouts_is_unbiased_with_and_without_baseline():
    G, D = _G(), TableD(3, 3)
    exact = _exact_gradient(G, D)
    for kind in ("none", "loo"):
        est = _estimates(G, D, kind)
        mean, se = est.mean(0), est.std(0) / math.sqrt(len(est))
        z = (mean - exact).abs() / (se + 1e-8)
        assert (z < 4.5).all(), (kind, z.max())
        assert F.cosine_similarity(mean, exact, dim=0) > 0.95


def test_baseline_lowers_the_variance():
    G, D = _G(), TableD(3, 3)
    var_none = _estimates(G, D, "none", n_chunks=20, B=100).var(0).sum()
    var_loo = _estimates(G, D, "loo", n_chunks=20, B=100).var(0).sum()
    assert var_loo < 0.5 * var_none                 # rewards are all positive: a baseline helps a lot


def test_mean_baseline_is_the_leave_one_out_estimate_scaled():
    r = torch.rand(8, 5)
    logp = torch.randn(8, 5, requires_grad=True)
    (g_loo,) = torch.autograd.grad(seqgan.reinforce_loss(logp, r, "loo"), logp)
    (g_mean,) = torch.autograd.grad(seqgan.reinforce_loss(logp, r, "mean"), logp)
    assert torch.allclose(g_mean, (1 - 1 / 8) * g_loo, atol=1e-6)
    b = seqgan.baseline(r, "loo")
    assert torch.allclose(b[0], r[1:].mean(0))


def test_reinforce_loss_formula_and_bad_inputs():
    r = torch.rand(4, 3)
    logp = torch.randn(4, 3)
    assert torch.allclose(seqgan.reinforce_loss(logp, r, "none"), -(logp * r).sum(1).mean())
    with pytest.raises(ValueError, match="baseline"):
        seqgan.reinforce_loss(logp, r, "median")
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        seqgan.reinforce_loss(logp, r[:, :2], "none")
    with pytest.raises(ValueError, match="at least 2"):
        seqgan.baseline(r[:1], "loo")


# ---------------------------------------------------------------------------------------- collapse

def test_collapse_report():
    same = torch.full((100, 8), 3)
    collapsed, msg = seqgan.collapse_report(same)
    assert collapsed and "1% of 100 samples" in msg
    diverse = torch.randint(0, 50, (100, 8), generator=torch.Generator().manual_seed(0))
    assert not seqgan.collapse_report(diverse)[0]
    assert seqgan.collapse_report(diverse, self_bleu=0.95)[0]
    d = seqgan.diversity(diverse)
    assert d["unique"] == 1.0 and 0 < d["distinct2"] <= 1 and d["top_bigram"] < 0.01
    # all sequences distinct, but each repeats the loop "7 9 7 9 ...": caught by the top bigram's share
    g = torch.Generator().manual_seed(1)
    loops = torch.tensor([7, 9]).repeat(100, 10)
    loops[:, :4] = torch.randint(10, 50, (100, 4), generator=g)
    assert seqgan.diversity(loops)["unique"] == 1.0
    collapsed, msg = seqgan.collapse_report(loops)
    assert collapsed and "repeat a loop" in msg
    # padding does not count: short lines padded with <pad> are not a loop
    padded = diverse.clone()
    padded[:, 4:] = seqgan.PAD_ID
    assert not seqgan.collapse_report(padded)[0]


# ---------------------------------------------------------------------------------------- training

def test_seqgan_epochs_run_time_their_phases_and_warn_on_collapse():
    V, T = 20, 6
    G = _G(V, T, std=0.1)
    D = CNNDiscriminator(CNNConfig(vocab_size=V, seq_len=T, emb=8, filter_sizes=(2, 3), num_filters=(8, 8)))
    real = torch.randint(0, V, (128, T), generator=torch.Generator().manual_seed(0))
    gan = seqgan.SeqGAN(G, D, real, seqgan.SeqGANConfig(n_rollouts=2, batch_size=8, d_samples=32))
    hist = gan.train(2, evaluate=lambda G: {"nll_real": G.nll(real).item()})
    assert len(hist["reward"]) == 2 and len(hist["nll_real"]) == 2
    assert all(gan.times[k] > 0 for k in ("rollout", "g_update", "d_sample", "d_train"))
    with torch.no_grad():                       # force a collapsed generator: one token always
        G.head.bias.fill_(-50)
        G.head.bias[7] = 50
    with pytest.warns(seqgan.ModeCollapse, match="collapse"):
        gan.train(1)
    with pytest.raises(ValueError, match="n_rollouts"):
        seqgan.SeqGAN(G, D, real, seqgan.SeqGANConfig(n_rollouts=0))
    with pytest.raises(ValueError, match="baseline"):
        seqgan.SeqGAN(G, D, real, seqgan.SeqGANConfig(baseline="best"))


def test_oracle_scores_are_the_two_nlls_with_their_standard_errors():
    G, oracle = _G(20, 6, std=0.5), _G(20, 6, std=1.0)
    test = torch.randint(0, 20, (40, 6), generator=torch.Generator().manual_seed(1))
    s = seqgan.oracle_scores(G, oracle, test, n=50, temperature=0.8, seed=3)
    xs = G.sample(50, temperature=0.8, generator=torch.Generator().manual_seed(3))    # the same samples
    q = oracle.nll_per_sequence(xs)
    assert math.isclose(s["nll_oracle"], oracle.nll(xs).item(), rel_tol=1e-5)
    assert math.isclose(s["nll_oracle_se"], (q.std() / math.sqrt(50)).item(), rel_tol=1e-5)
    assert math.isclose(s["nll_test"], seqgan.nll_at_temperature(G, test, 0.8), rel_tol=1e-5)
    c = G.nll_per_sequence(test, temperature=0.8)
    assert math.isclose(s["nll_test_se"], (c.std() / math.sqrt(40)).item(), rel_tol=1e-5)
    with pytest.raises(ValueError, match="n=0"):
        seqgan.oracle_scores(G, oracle, test, n=0)


def test_nll_at_temperature():
    G = _G(20, 6, std=0.5)
    x = torch.randint(0, 20, (16, 6), generator=torch.Generator().manual_seed(0))
    assert math.isclose(seqgan.nll_at_temperature(G, x, 1.0), G.nll(x).item(), rel_tol=1e-5)
    logits, _ = G(G.inputs_for(x))
    by_hand = -torch.log_softmax(logits / 0.7, -1).gather(-1, x.unsqueeze(-1)).mean().item()
    assert math.isclose(seqgan.nll_at_temperature(G, x, 0.7, batch_size=5), by_hand, rel_tol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        seqgan.nll_at_temperature(G, x, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        seqgan.nll_at_temperature(G, torch.zeros(2, 6, dtype=torch.long), -1.0)


def test_pretrain_generator_saves_and_loads(tmp_path):
    data = torch.randint(0, 5, (64, 6), generator=torch.Generator().manual_seed(0))
    path = tmp_path / "mle.pt"
    G1 = _G(20, 6, std=0.1)
    h1 = seqgan.pretrain_generator(G1, data, 2, batch_size=16, path=path,
                                   evaluate=lambda G: {"nll": G.nll(data).item()})
    assert path.is_file() and len(h1["train_nll"]) == 2 and "loaded" not in h1
    G2 = _G(20, 6, std=0.1, seed=5)
    h2 = seqgan.pretrain_generator(G2, data, 2, batch_size=16, path=path)
    assert h2["loaded"] and h2["train_nll"] == h1["train_nll"]
    assert all(torch.equal(a, b) for a, b in zip(G1.state_dict().values(), G2.state_dict().values()))
    G3 = _G(20, 6, std=0.1)                      # other settings: trains again, overwrites
    assert "loaded" not in seqgan.pretrain_generator(G3, data, 1, batch_size=16, path=path)
    with pytest.raises(ValueError, match="epochs"):
        seqgan.pretrain_generator(G3, data, -1)


def test_pretrain_generator_early_stopping_keeps_the_best_validation_epoch(tmp_path):
    g = torch.Generator().manual_seed(0)
    data, valid = torch.randint(0, 20, (16, 6), generator=g), torch.randint(0, 20, (64, 6), generator=g)
    G = _G(20, 6, std=0.1)
    h = seqgan.pretrain_generator(G, data, 40, lr=0.05, batch_size=8, valid=valid, patience=2,
                                  path=tmp_path / "mle.pt")
    curve = dict(h["valid_nll"])
    best = min(curve, key=curve.get)
    assert h["best_epoch"] == best and h["epochs_run"] == min(40, best + 2) < 40   # 16 random lines overfit
    assert math.isclose(G.nll(valid).item(), curve[best], rel_tol=1e-5)           # the best epoch's weights
    G2 = _G(20, 6, std=0.1, seed=3)                                                # the checkpoint holds them
    assert seqgan.pretrain_generator(G2, data, 40, lr=0.05, batch_size=8, valid=valid, patience=2,
                                     path=tmp_path / "mle.pt")["loaded"]
    assert math.isclose(G2.nll(valid).item(), curve[best], rel_tol=1e-5)
    with pytest.raises(ValueError, match="patience=2 is not allowed without valid"):
        seqgan.pretrain_generator(G, data, 2, patience=2)
    with pytest.raises(ValueError, match="patience"):
        seqgan.pretrain_generator(G, data, 2, valid=valid, patience=0)


def test_delayed_rollout_network_follows_seqgans_update():
    """rollout_update_rate r: after every G step theta_roll <- r theta_roll + (1 - r) theta_G (LSTM, head),
    the embedding copied; the rewards come from the delayed copy, not from G."""
    V, T = 20, 6
    G = _G(V, T, std=0.5)
    D = CNNDiscriminator(CNNConfig(vocab_size=V, seq_len=T, emb=8, filter_sizes=(2, 3), num_filters=(8, 8)))
    real = torch.randint(0, V, (64, T), generator=torch.Generator().manual_seed(0))
    gan = seqgan.SeqGAN(G, D, real, seqgan.SeqGANConfig(n_rollouts=2, batch_size=8, d_steps=0,
                                                        rollout_update_rate=0.8))
    assert gan.G_roll is not G
    before = {k: v.clone() for k, v in gan.G_roll.state_dict().items()}
    gan.g_step()
    for k, v in gan.G_roll.state_dict().items():
        want = G.state_dict()[k] if k.startswith("embed.") else 0.8 * before[k] + 0.2 * G.state_dict()[k]
        assert torch.allclose(v, want, atol=1e-6), k
    assert not all(torch.equal(a, b) for a, b in zip(G.parameters(), gan.G_roll.parameters()))
    assert seqgan.SeqGAN(G, D, real, seqgan.SeqGANConfig(n_rollouts=2)).G_roll is G      # default: G itself
    for bad in (1.0, -0.1, True, "0.8"):
        with pytest.raises(ValueError, match="rollout_update_rate=.* is not allowed; allowed"):
            seqgan.SeqGANConfig(rollout_update_rate=bad)
