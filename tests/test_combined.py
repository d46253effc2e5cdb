"""gan_course.models.arae and gan_course.vae_gan_text: the ARAE steps against their formulas, the relaxed
decoder (one-hot rows, <pad> after <eos>, a gradient that reaches the decoder and the encoder), the VAE+GAN
losses, and clear errors for bad settings."""
import pytest
import torch
import torch.nn.functional as F

from gan_course import losses
from gan_course import vae_gan_text as vg
from gan_course.data.vocab import BOS_ID, EOS_ID, PAD_ID
from gan_course.models import arae
from gan_course.models import sentence_vae as sv
from tiny_data import V, tiny_sentences as _seqs


def _acfg(**kw):
    base = dict(vocab_size=V, emb=8, hidden=16, d_code=4, d_noise=3, width=16, depth=1, steps=4, batch_size=8,
                critic_steps=2)
    base.update(kw)
    return arae.ARAEConfig(**base)


# ---------------------------------------------------------------------------------------------- ARAE

def test_codes_on_the_unit_sphere_and_samples():
    m = arae.build(_acfg())
    _, targets = sv.vae_batch(_seqs(5))
    assert torch.allclose(m.encode(targets).norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(m.generate_codes(7).norm(dim=1), torch.ones(7), atol=1e-5)
    ids = m.sample(6, max_len=5, generator=torch.Generator().manual_seed(0))
    assert ids.shape == (6, 5) and ids.dtype == torch.long


def test_critic_step_minimises_the_wgan_gp_loss():
    """The critic's loss is E C(G(z)) - E C(c) + GP, computed independently here with the same noise."""
    torch.manual_seed(0)
    m = arae.build(_acfg())
    opt_ae, opt_c, opt_g, opt_enc = arae.optimizers(m)
    _, targets = sv.vae_batch(_seqs(8))
    g = torch.Generator().manual_seed(5)                          # the same draws as critic_step's
    with torch.no_grad():
        real = m.encode(targets)
        fake = m.generate_codes(8, g)
    want_w = m.critic(fake).mean() - m.critic(real).mean()
    want_gp = losses.gradient_penalty(m.critic, real, fake, 10.0, generator=g)
    logs = arae.critic_step(m, opt_c, real, generator=torch.Generator().manual_seed(5))
    assert logs["w_dist"] == pytest.approx(-want_w.item(), abs=1e-5)
    assert logs["gp"] == pytest.approx(want_gp.item(), abs=1e-5)


def test_ae_step_returns_the_batch_codes_and_encoder_step_moves_only_the_encoder():
    torch.manual_seed(0)
    m = arae.build(_acfg(enc_adv_weight=1.0))
    opt_ae, opt_c, opt_g, opt_enc = arae.optimizers(m)
    seqs = _seqs(8)
    rec, codes = arae.ae_step(m, opt_ae, seqs, 0.1, torch.Generator().manual_seed(0))
    assert rec > 0 and codes.shape == (8, 4) and not codes.requires_grad
    dec_before = [p.clone() for p in m.decoder.parameters()]
    gen_before = [p.clone() for p in m.generator.parameters()]
    critic_before = [p.clone() for p in m.critic.parameters()]
    enc_before = [p.clone() for p in m.encoder.rnn.parameters()]
    arae.encoder_adv_step(m, opt_enc, seqs)
    assert all(torch.equal(a, b) for a, b in zip(dec_before, m.decoder.parameters()))   # embedding included
    assert all(torch.equal(a, b) for a, b in zip(gen_before, m.generator.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(critic_before, m.critic.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(enc_before, m.encoder.rnn.parameters()))


def test_generator_step_and_fit():
    torch.manual_seed(0)
    m = arae.build(_acfg())
    _, _, opt_g, _ = arae.optimizers(m)
    critic_before = [p.clone() for p in m.critic.parameters()]
    loss = arae.generator_step(m, opt_g, 8, generator=torch.Generator().manual_seed(0))
    assert isinstance(loss, float)
    assert all(torch.equal(a, b) for a, b in zip(critic_before, m.critic.parameters()))   # G's step leaves C alone
    model, hist = arae.fit(_acfg(steps=20, lr_ae=1e-2, critic_steps=1), _seqs(32))
    rec = [v for _, v in hist["rec"]]
    assert sum(rec[-5:]) < sum(rec[:5])
    assert {"rec", "w_dist", "gp", "loss_g"} <= set(hist)


def test_arae_bad_config():
    with pytest.raises(ValueError, match="critic_steps=0 is not allowed; allowed: a positive integer"):
        arae.build(_acfg(critic_steps=0))
    with pytest.raises(ValueError, match="noise_decay"):
        arae.build(_acfg(noise_decay=1.5))
    with pytest.raises(ValueError, match="gp_weight=-1.0 is not allowed; allowed: a finite number >= 0"):
        arae.build(_acfg(gp_weight=-1.0))


# ------------------------------------------------------------------------------------------- VAE + GAN

def _vcfg(**kw):
    base = dict(vocab_size=V, emb=8, hidden=16, d_z=3, steps=3, batch_size=8)
    base.update(kw)
    return sv.SentenceVAEConfig(**base)


def test_pad_to():
    t = torch.tensor([[5, 6, EOS_ID], [7, EOS_ID, PAD_ID]])
    assert torch.equal(vg.pad_to(t, 5), torch.tensor([[5, 6, EOS_ID, 0, 0], [7, EOS_ID, 0, 0, 0]]))
    assert torch.equal(vg.pad_to(t, 2), t[:, :2])


def test_relaxed_decode_one_hot_rows_pad_after_eos_and_gradient():
    torch.manual_seed(0)
    vae = sv.build(_vcfg())
    z = vae.sample_prior(16, torch.Generator().manual_seed(0)).requires_grad_(True)
    y, words = vg.relaxed_decode(vae.decoder, z, seq_len=6, tau=0.7, hard=True,
                                 generator=torch.Generator().manual_seed(1))
    assert y.shape == (16, 6, V) and words.shape == (16, 6)
    assert torch.allclose(y.sum(-1), torch.ones(16, 6), atol=1e-5)
    assert torch.equal(y.argmax(-1), words)                      # hard rows are the sampled words
    for row in words.tolist():
        if EOS_ID in row:
            assert all(t == PAD_ID for t in row[row.index(EOS_ID) + 1:])
    # the gradient of a function of y reaches the decoder's weights and the code z
    (y * torch.randn(y.shape, generator=torch.Generator().manual_seed(2))).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert vae.decoder.head.weight.grad.abs().sum() > 0
    soft, _ = vg.relaxed_decode(vae.decoder, z.detach(), 6, tau=0.7, hard=False, generator=torch.Generator().manual_seed(1))
    assert ((soft > 0) & (soft < 1)).any()                       # relaxed rows are inside the simplex
    with pytest.raises(ValueError, match="tau"):
        vg.relaxed_decode(vae.decoder, z, 6, tau=0.0)


def test_sampled_words_follow_the_decoder():
    """Gumbel-max words are exact samples: the first word's frequencies match softmax(logits)."""
    torch.manual_seed(0)
    vae = sv.build(_vcfg())
    z = torch.zeros(1, 3).expand(20000, 3)
    _, words = vg.relaxed_decode(vae.decoder, z, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p = F.softmax(vae.decoder(torch.full((1, 1), BOS_ID), z[:1])[0, 0], -1)
    freq = torch.bincount(words[:, 0], minlength=V).float() / 20000
    assert torch.allclose(freq, p, atol=0.015)


def test_vae_gan_steps_use_the_documented_losses():
    torch.manual_seed(0)
    vcfg = _vcfg()
    vae = sv.build(vcfg)
    gan = vg.VAEGAN(vae, vg.VAEGANConfig(vae=vcfg, seq_len=7, d_filters=4, steps=2), _seqs(32))
    seqs = _seqs(8, seed=1)
    _, targets = sv.vae_batch(seqs)
    real = F.one_hot(vg.pad_to(targets, 7), V).float()
    gan.D.eval()                                                  # no dropout: D is a fixed function here
    # D's loss is the BCE of the minimax game, -E log D(x) - E log(1 - D(G(z))), on real and fake rows
    gan.gen.manual_seed(7)
    with torch.no_grad():
        fake, _ = gan._fakes(targets)
        want = -(F.logsigmoid(gan.D(real)).mean() + F.logsigmoid(-gan.D(fake)).mean())
    gan.gen.manual_seed(7)
    logs = gan.d_step(seqs)
    assert logs["loss_d"] == pytest.approx(want.item(), abs=1e-5)
    assert 0 <= logs["d_acc"] <= 1
    # the generator's GAN term is the non-saturating -E log D(G(z)) on the same fakes
    inputs, _ = sv.vae_batch(seqs)
    gan.gen.manual_seed(9)
    with torch.no_grad():
        gan.vae(inputs, targets, generator=gan.gen)               # the VAE's noise is drawn first
        fake, _ = gan._fakes(targets)
        want_g = -F.logsigmoid(gan.D(fake)).mean()
    before = [p.clone() for p in gan.D.parameters()]
    gan.gen.manual_seed(9)
    logs = gan.vae_g_step(seqs)
    assert logs["loss_g"] == pytest.approx(want_g.item(), abs=1e-5)
    assert {"rec", "kl", "loss_g"} <= set(logs)
    assert all(torch.equal(a, b) for a, b in zip(before, gan.D.parameters()))   # the VAE step leaves D alone
    hist = gan.train(steps=2)
    assert len(hist["loss_d"]) == 2
    assert 0 <= gan.d_accuracy(_seqs(16)) <= 1


def test_vae_gan_bad_config():
    with pytest.raises(TypeError, match="SentenceVAEConfig"):
        vg.check_config(vg.VAEGANConfig(vae={"vocab_size": 12}))
    with pytest.raises(ValueError, match="tau"):
        vg.check_config(vg.VAEGANConfig(vae=_vcfg(), tau=-1.0))
    with pytest.raises(ValueError, match="gan_weight=-0.5 is not allowed; allowed: a finite number >= 0"):
        vg.check_config(vg.VAEGANConfig(vae=_vcfg(), gan_weight=-0.5))
    with pytest.raises(TypeError, match="SentenceVAE"):
        vg.VAEGAN(object(), vg.VAEGANConfig(vae=_vcfg()), _seqs(4))


def test_gan_weight_zero_is_the_vae_alone():
    """gan_weight=0: no D step, and the VAE step is exactly sv.vae_step's update (the control run)."""
    torch.manual_seed(0)
    vcfg = _vcfg()
    vae = sv.build(vcfg)
    twin = sv.build(vcfg)
    twin.load_state_dict(vae.state_dict())
    gan = vg.VAEGAN(vae, vg.VAEGANConfig(vae=vcfg, seq_len=7, d_filters=4, gan_weight=0.0, lr=1e-3), _seqs(32))
    d_before = [p.clone() for p in gan.D.parameters()]
    seqs = _seqs(8, seed=2)
    gan.gen.manual_seed(3)
    logs = gan.vae_g_step(seqs)
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    want = sv.vae_step(twin, opt, seqs, beta=1.0, generator=torch.Generator().manual_seed(3))
    assert logs["rec"] == pytest.approx(want["rec"], abs=1e-5) and logs["loss_g"] == 0.0
    for a, b in zip(vae.parameters(), twin.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    hist = gan.train(steps=2)
    assert "loss_d" not in hist
    assert all(torch.equal(a, b) for a, b in zip(d_before, gan.D.parameters()))


def test_two_sample_accuracy_separates_shifted_sets_only():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    same = arae.two_sample_accuracy(a, b, steps=100)
    shifted = arae.two_sample_accuracy(a, b + 1.5, steps=100)
    assert 0.4 < same < 0.6 and shifted > 0.9
    assert arae.two_sample_accuracy(a, b + 1.5, steps=100) == shifted               # seeded
    with pytest.raises(ValueError, match="same width"):
        arae.two_sample_accuracy(a, b[:, :3])
