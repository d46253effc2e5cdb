"""When training blows up, every trainer of the course stops with `train.TrainingDiverged`, says what to
change (a learning rate, by name), and leaves finite weights and optimiser states behind: those of the
last good step, which the `DivergenceGuard` restored.

Two ways to make a run diverge, both deterministic (seeded, CPU):

* for real: a learning rate so large (HUGE = 1e30) that one Adam step moves the weights to about 1e30,
  and the next products overflow float32 (max 3.4e38) to inf and NaN; for the 2-D GAN, the classic
  blow-up of SGD with momentum at lr 1 on the WGAN-GP loss;
* by injection, where a huge learning rate gives no NaN (a GRU/LSTM language model saturates: its loss
  becomes enormous but stays finite) or fails elsewhere first (see the adversarial NMT case):
  a module's forward pass returns NaN from its k-th call on. The NaN flows through the loss, the backward
  pass and the optimiser step into the weights, as in a real blow-up.

Every case checks the message names at least one non-finite weight: the weights really were broken
before the guard put the good ones back.
"""
import re
import warnings

import pytest
import torch

from gan_course import gan2d, gumbel, seqgan, train, vae_gan_text
from gan_course.models import arae, lm, sentence_vae
from gan_course.translation import nmt_adversarial, seq2seq, unsup_mt
from gan_course.models import vae as image_vae
from gan_course.models.oracle import SeqGenerator
from tiny_data import V, sentence_vae_config, tiny_images, tiny_monolingual, tiny_pairs, tiny_sentences, \
    tiny_seq_gan

HUGE = 1e30


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


@pytest.fixture
def guards(monkeypatch):
    """Every DivergenceGuard a trainer makes during the test, kept so the test can look at the modules
    and optimisers it watched (the trainers import `DivergenceGuard` from `gan_course.train` when called)."""
    made = []

    class RecordedGuard(train.DivergenceGuard):
        def __init__(self, *modules, **kwargs):
            super().__init__(*modules, **kwargs)
            made.append(self)

    monkeypatch.setattr(train, "DivergenceGuard", RecordedGuard)
    return made


def nan_from_call(forward, k):
    """`forward` that returns NaN (every float tensor of its output, tuples included) from its k-th call on."""
    calls = [0]

    def poisoned(*args, **kwargs):
        calls[0] += 1
        out = forward(*args, **kwargs)
        return _nan_like(out) if calls[0] >= k else out

    return poisoned


def _nan_like(out):
    if isinstance(out, tuple):
        return tuple(_nan_like(o) for o in out)
    if isinstance(out, torch.Tensor) and out.is_floating_point():
        return out * float("nan")
    return out


# ------------------------------------------------------------------------------------ one case per trainer
# Each takes pytest's monkeypatch (for the injected cases) and runs a training that must diverge.

def diverge_gan2d(monkeypatch):
    gan = gan2d.GAN2D(gan2d.GAN2DConfig(width=16, depth=2, batch=32, loss="wgan_gp", optimizer="sgd", beta1=0.9,
                                        lr_d=1.0, lr_g=1.0))
    gan.train(50, show_progress=False)


def diverge_vae(monkeypatch):
    x, y = tiny_images()
    image_vae.fit_vae(image_vae.VAEConfig(width=16, depth=1, steps=10, batch_size=16, lr=HUGE), x, y)


def diverge_aae(monkeypatch):
    x, y = tiny_images()
    image_vae.fit_aae(image_vae.AAEConfig(width=16, depth=1, d_width=8, steps=10, batch_size=16, lr=HUGE,
                                          lr_d=HUGE, lr_g=HUGE), x, y)


def diverge_lm(monkeypatch):
    monkeypatch.setattr(lm.LanguageModel, "forward", nan_from_call(lm.LanguageModel.forward, k=3))
    torch.manual_seed(0)
    model = lm.LanguageModel(lm.LMConfig(vocab_size=V, emb=8, hidden=16))
    lm.fit(model, tiny_sentences(), steps=10, batch_size=8)


def diverge_sentence_vae(monkeypatch):
    sentence_vae.fit(sentence_vae_config(steps=10, lr=HUGE), tiny_sentences())


def diverge_sentence_lm_baseline(monkeypatch):
    monkeypatch.setattr(lm.LanguageModel, "forward", nan_from_call(lm.LanguageModel.forward, k=3))
    sentence_vae.fit_lm(lm.LMConfig(vocab_size=V, emb=8, hidden=16), tiny_sentences(), steps=10, batch_size=8)


def diverge_arae(monkeypatch):
    arae.fit(arae.ARAEConfig(vocab_size=V, emb=8, hidden=16, d_code=4, d_noise=3, width=16, depth=1, steps=10,
                             batch_size=8, critic_steps=2, lr_ae=HUGE, lr_gan=HUGE), tiny_sentences())


def diverge_gumbel_gan(monkeypatch):
    G, D, real = tiny_seq_gan()
    gumbel.GumbelGAN(G, D, real, gumbel.GumbelGANConfig(steps=10, batch_size=8, lr_g=HUGE, lr_d=HUGE)).train()


def diverge_seqgan_pretrain_generator(monkeypatch):
    monkeypatch.setattr(SeqGenerator, "forward", nan_from_call(SeqGenerator.forward, k=6))   # in epoch 2
    G, _, real = tiny_seq_gan()
    seqgan.pretrain_generator(G, real, epochs=5, batch_size=16)


def diverge_seqgan_pretrain_discriminator(monkeypatch):
    G, D, real = tiny_seq_gan()
    seqgan.pretrain_discriminator(D, G, real, rounds=5, n=32, epochs=1, lr=HUGE)


def diverge_seqgan(monkeypatch):
    G, D, real = tiny_seq_gan()
    gan = seqgan.SeqGAN(G, D, real, seqgan.SeqGANConfig(n_rollouts=2, batch_size=8, d_samples=32, lr_g=HUGE,
                                                        lr_d=HUGE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", seqgan.ModeCollapse)
        gan.train(5)


def diverge_vae_gan(monkeypatch):
    vcfg = sentence_vae_config()
    vae = sentence_vae.build(vcfg)
    seqs = tiny_sentences()
    vae_gan_text.VAEGAN(vae, vae_gan_text.VAEGANConfig(vae=vcfg, seq_len=6, d_filters=4, steps=10, lr=HUGE,
                                                       lr_d=HUGE), seqs).train()


def diverge_seq2seq(monkeypatch):
    pairs, vocab = tiny_pairs()
    torch.manual_seed(0)
    model = seq2seq.Seq2Seq(seq2seq.Seq2SeqConfig(len(vocab), len(vocab), emb=8, hidden=16))
    # steps=12, not 10: torch's OneCycleLR(total_steps=10, pct_start=0.1) divides by zero (0.1 * 10 == 1)
    seq2seq.train_mle(model, pairs, vocab, vocab, steps=12, batch_size=16, lr=HUGE)


def _nmt_models():
    pairs, vocab = tiny_pairs()
    torch.manual_seed(0)
    G = seq2seq.Seq2Seq(seq2seq.Seq2SeqConfig(len(vocab), len(vocab), emb=8, hidden=16))
    D = nmt_adversarial.PairDiscriminator(len(vocab), len(vocab), emb=8, channels=8)
    return G, D, pairs, vocab


def diverge_nmt_adversarial(monkeypatch):
    # Injected: with a huge lr_g the translator's logits overflow and its *sampler* fails first
    # (torch.multinomial: "probability tensor contains inf/nan") before any loss is computed.
    # D is called twice per pretraining step (real, fake) and three times per adversarial step.
    Pair = nmt_adversarial.PairDiscriminator
    monkeypatch.setattr(Pair, "forward", nan_from_call(Pair.forward, k=2 * 2 + 3 * 2 + 1))   # adversarial step 2
    G, D, pairs, vocab = _nmt_models()
    nmt_adversarial.train_adversarial(G, D, pairs, vocab, vocab,
                                      nmt_adversarial.AdversarialConfig(steps=10, batch_size=8, d_pretrain=2,
                                                                        max_len=8))


def diverge_nmt_pretrain_d(monkeypatch):
    # Injected: at lr_d = 1e30 D's logits are huge but its cross-entropy stays finite while it pretrains.
    Pair = nmt_adversarial.PairDiscriminator
    monkeypatch.setattr(Pair, "forward", nan_from_call(Pair.forward, k=3))                  # pretraining step 1
    G, D, pairs, vocab = _nmt_models()
    nmt_adversarial.train_adversarial(G, D, pairs, vocab, vocab,
                                      nmt_adversarial.AdversarialConfig(steps=2, batch_size=8, d_pretrain=10,
                                                                        max_len=8))


def diverge_nmt_mle_baseline(monkeypatch):
    G, _, pairs, vocab = _nmt_models()
    nmt_adversarial.train_mle_more(G, pairs, vocab, vocab, nmt_adversarial.AdversarialConfig(steps=10, batch_size=8,
                                                                                             lr_g=HUGE))


def diverge_unsup_mt(monkeypatch):
    data = tiny_monolingual()
    cfg = unsup_mt.UnsupConfig(emb=8, hidden=16, steps=10, bt_start=100, batch_size=8, lr=HUGE, lr_d=HUGE)
    torch.manual_seed(0)
    unsup_mt.train_unsupervised(unsup_mt.UnsupervisedTranslator(data.vocab, cfg), data, cfg)


# name: (the diverging run, what the message must tell the user to change)
CASES = {
    "gan2d (SGD lr 1, WGAN-GP)": (diverge_gan2d, "lower lr_d and lr_g (now 1 and 1; try 1e-4), or use adam"),
    "vae.fit_vae": (diverge_vae, "lower VAEConfig.lr"),
    "vae.fit_aae": (diverge_aae, "lower AAEConfig.lr_d and lr_g"),
    "lm.fit (NaN injected)": (diverge_lm, "lower lr (now 0.003)"),
    "sentence_vae.fit": (diverge_sentence_vae, "lower SentenceVAEConfig.lr"),
    "sentence_vae.fit_lm (NaN injected)": (diverge_sentence_lm_baseline, "lower the learning rate"),
    "arae.fit": (diverge_arae, "lower ARAEConfig.lr_gan"),
    "gumbel.GumbelGAN": (diverge_gumbel_gan, "lower GumbelGANConfig.lr_g and lr_d"),
    "seqgan.pretrain_generator (NaN injected)": (diverge_seqgan_pretrain_generator, "lower lr (now 0.01)"),
    "seqgan.pretrain_discriminator": (diverge_seqgan_pretrain_discriminator, "lower lr (now 1e+30)"),
    "seqgan.SeqGAN": (diverge_seqgan, "lower SeqGANConfig.lr_g"),
    "vae_gan_text.VAEGAN": (diverge_vae_gan, "lower VAEGANConfig.lr / lr_d"),
    "seq2seq.train_mle": (diverge_seq2seq, "lower lr"),
    "nmt_adversarial.train_adversarial (NaN injected)": (diverge_nmt_adversarial, "lower lr_g or raise mle_weight"),
    "nmt_adversarial D pretraining": (diverge_nmt_pretrain_d, "lower lr_d"),
    "nmt_adversarial.train_mle_more": (diverge_nmt_mle_baseline, "lower lr_g"),
    "unsup_mt.train_unsupervised": (diverge_unsup_mt, "lower lr or adv_weight"),
}


def not_finite(guard_list):
    """Names of the watched weights and optimiser-state tensors that hold a NaN or an inf."""
    bad = []
    for g in guard_list:
        for m in g.modules:
            bad += [f"{type(m).__name__}.{n}" for n, p in m.named_parameters() if not torch.isfinite(p).all()]
        for o in g.optimizers:
            for state in o.state.values():
                bad += [f"{type(o).__name__} state {k}" for k, v in state.items()
                        if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
    return bad


@pytest.mark.parametrize("name", list(CASES))
def test_divergence_stops_says_what_to_change_and_restores_finite_weights(name, guards, monkeypatch):
    run, hint = CASES[name]
    with pytest.raises(train.TrainingDiverged) as caught:
        run(monkeypatch)
    message = str(caught.value)
    what, _, change = message.partition("What to change: ")
    assert re.match(r"training diverged at step \d+ \(.*not finite\)\. Restored the weights of step \d+\. $", what), \
        message
    assert "weight " in what, f"{name}: no weight was non-finite, so the restore is not tested: {message}"
    assert hint in change, f"{name}: the message should say {hint!r}; it says {change!r}"
    assert re.search(r"\blr\b|\blr_|learning rate", change), f"{name}: no learning rate named in {change!r}"
    assert guards, f"{name}: the trainer made no DivergenceGuard"
    bad = not_finite(guards)
    assert not bad, f"{name}: after TrainingDiverged these are still not finite: {bad[:5]}"
