"""gan_course.gumbel: the Gumbel-max trick samples the softmax, the relaxation tends to one-hot as
tau -> 0, straight-through is one-hot forward and the soft gradient backward, the annealing schedule,
bad temperatures, and a few steps of the Gumbel GAN (with the CNN discriminator on relaxed one-hots)."""
import math

import pytest
import torch
import torch.nn.functional as F

from gan_course import gumbel
from gan_course.models.oracle import SeqGenConfig, SeqGenerator
from gan_course.models.text_gan import CNNConfig, CNNDiscriminator


def test_gumbel_max_frequencies_match_softmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([2.0, 0.5, -1.0, 0.0, 1.0, -3.0])
    n = 200_000
    idx = gumbel.gumbel_max(logits.expand(n, -1), generator=g)
    freq = torch.bincount(idx, minlength=6).double() / n
    p = torch.softmax(logits.double(), 0)
    se = (p * (1 - p) / n).sqrt()
    assert ((freq - p).abs() < 5 * se + 1e-4).all(), (freq, p)


def test_gumbel_softmax_is_a_point_of_the_simplex_and_its_argmax_is_the_gumbel_max_sample():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(500, 7, generator=g)
    noise = gumbel.gumbel_noise(logits.shape, generator=g)
    y = gumbel.gumbel_softmax(logits, tau=0.7, noise=noise)
    assert (y > 0).all() and torch.allclose(y.sum(-1), torch.ones(500))
    assert torch.equal(y.argmax(-1), (logits + noise).argmax(-1))
    # the formula, written out
    assert torch.allclose(y, torch.softmax((logits + noise) / 0.7, -1))


def test_relaxed_samples_approach_one_hot_as_tau_goes_to_zero_and_uniform_as_it_grows():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2000, 10, generator=g)
    noise = gumbel.gumbel_noise(logits.shape, generator=g)
    peaks = [gumbel.gumbel_softmax(logits, tau, noise=noise).amax(-1).mean().item()
             for tau in (10.0, 1.0, 0.1, 0.01)]
    assert peaks == sorted(peaks)                      # sharper as tau falls
    assert peaks[-1] > 0.99 and peaks[0] < 0.3         # nearly one-hot / nearly uniform (1/10)
    hard = F.one_hot((logits + noise).argmax(-1), 10).float()
    close = (gumbel.gumbel_softmax(logits, 1e-3, noise=noise) - hard).abs().amax(-1) < 0.05
    assert close.float().mean() > 0.99    # all but near-ties of the two largest noisy logits


def test_straight_through_is_one_hot_forward_and_soft_gradient_backward():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(16, 5, generator=g, requires_grad=True)
    noise = gumbel.gumbel_noise(logits.shape, generator=g)
    w = torch.randn(16, 5, generator=g)
    y_hard = gumbel.gumbel_softmax(logits, 0.5, hard=True, noise=noise)
    assert set(y_hard.detach().unique().tolist()) == {0.0, 1.0} and torch.equal(y_hard.detach().sum(-1), torch.ones(16))
    assert torch.equal(y_hard.detach().argmax(-1), (logits + noise).argmax(-1))
    (grad_hard,) = torch.autograd.grad((y_hard * w).sum(), logits)
    y_soft = gumbel.gumbel_softmax(logits, 0.5, noise=noise)
    (grad_soft,) = torch.autograd.grad((y_soft * w).sum(), logits)
    assert torch.allclose(grad_hard, grad_soft, atol=1e-7)
    assert grad_soft.abs().sum() > 0


@pytest.mark.parametrize("tau", [0, 0.0, -1.0, float("nan"), float("inf"), "1", True, None])
def test_bad_temperature_is_refused(tau):
    with pytest.raises(ValueError, match="temperature"):
        gumbel.gumbel_softmax(torch.zeros(2, 3), tau)


def test_noise_of_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="noise"):
        gumbel.gumbel_softmax(torch.zeros(2, 3), 1.0, noise=torch.zeros(3, 2))


def test_temperature_schedules():
    assert gumbel.temperature(0, 1.0, 0.1, rate=0.01) == 1.0
    assert math.isclose(gumbel.temperature(100, 1.0, 0.1, rate=0.01), math.exp(-1.0))
    assert gumbel.temperature(10_000, 1.0, 0.1, rate=0.01) == 0.1               # floored at tau_min
    assert gumbel.temperature(50, 1.0, 0.2, schedule="linear", total=100) == pytest.approx(0.6)
    assert gumbel.temperature(500, 1.0, 0.2, schedule="linear", total=100) == pytest.approx(0.2)
    assert gumbel.temperature(7, 0.5, 0.1, schedule="constant") == 0.5
    with pytest.raises(ValueError, match="schedule"):
        gumbel.temperature(0, schedule="cosine")
    with pytest.raises(ValueError, match="tau_min"):
        gumbel.temperature(0, 1.0, 0.0)
    with pytest.raises(ValueError, match="total"):
        gumbel.temperature(0, schedule="linear")


def _tiny(V=12, T=6):
    torch.manual_seed(0)
    G = SeqGenerator(SeqGenConfig(vocab_size=V, seq_len=T, emb=8, hidden=8))
    D = CNNDiscriminator(CNNConfig(vocab_size=V, seq_len=T, emb=8, filter_sizes=(2, 3), num_filters=(8, 8)))
    return G, D


def test_relaxed_rollout_shapes_hard_tokens_and_gradient():
    G, D = _tiny()
    y, tok = gumbel.relaxed_rollout(G, 5, tau=0.5, generator=torch.Generator().manual_seed(0))
    assert y.shape == (5, 6, 12) and tok.shape == (5, 6)
    assert torch.equal(y.argmax(-1), tok)                   # the fed-back token is y's argmax
    D(y).sum().backward()                                    # D's score reaches G's weights
    assert G.head.weight.grad is not None and G.head.weight.grad.abs().sum() > 0


def test_discriminator_reads_ids_and_one_hots_alike():
    _, D = _tiny()
    D.eval()
    x = torch.randint(0, 12, (4, 6))
    assert torch.allclose(D(x), D(F.one_hot(x, 12).float()), atol=1e-6)
    assert D(x).shape == (4,)
    with pytest.raises(ValueError, match="one-hot"):
        D(torch.zeros(4, 6, 11))
    with pytest.raises(ValueError, match="seq_len"):
        D(torch.zeros(4, 5, dtype=torch.long))


def test_paper_discriminator_size():
    D = CNNDiscriminator(CNNConfig.paper(5000, 20))
    assert D.out.in_features == 1720
    assert D.macs_per_sequence() > 10 * CNNDiscriminator(CNNConfig()).macs_per_sequence()


def test_gumbel_gan_trains_a_few_steps_and_checks_d():
    G, D = _tiny()
    real = torch.randint(0, 12, (64, 6))
    gan = gumbel.GumbelGAN(G, D, real, gumbel.GumbelGANConfig(steps=6, batch_size=8))
    hist = gan.train()
    assert len(hist["loss_d"]) == 6 and all(math.isfinite(v) for _, v in hist["loss_g"])
    taus = [v for _, v in hist["tau"]]
    assert taus[0] == 1.0 and taus == sorted(taus, reverse=True)
    class WrongShapeD(torch.nn.Module):      # returns (B, 1) instead of (B,)
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(12, 1)

        def forward(self, x):
            return self.lin(x.float().mean(1))

    bad = gumbel.GumbelGAN(G, WrongShapeD(), real, gumbel.GumbelGANConfig(batch_size=4))
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        bad.d_step(1.0)
    with pytest.raises(ValueError, match="loss"):
        gumbel.GumbelGAN(G, D, real, gumbel.GumbelGANConfig(loss="wgan"))
    with pytest.raises(ValueError, match="tau0"):
        gumbel.GumbelGAN(G, D, real, gumbel.GumbelGANConfig(tau0=0.0))


def test_temperature_widget_draws_headless():
    import matplotlib.pyplot as plt

    from gan_course.widgets import gumbel as gw

    fig = plt.figure()
    small = gw.draw_relaxed(fig, tau=0.05, n=2000)
    plt.close(fig)
    fig = plt.figure()
    large = gw.draw_relaxed(fig, tau=5.0, n=2000)
    plt.close(fig)
    assert small["peak"] > 0.95 and large["peak"] < 0.5
    assert abs(small["freq"] - small["p"]).max() < 0.04       # Gumbel-max: argmax frequencies = softmax
    assert abs(large["mean_y"] - 1 / 3).max() < abs(large["p"] - 1 / 3).max()   # relaxed mean pulled to uniform
    box = gw.explore_temperature()                              # headless: one static figure
    assert box is not None
