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

Every case checks the message names at least one non-finite weight or an exploded loss: the weights
really were broken before the guard put the good ones back; and that the losses the restored weights
gave (`TrainingDiverged.restored_losses`) are finite and not exploded: 'good' means a finite, not
exploding loss, not merely finite weights.

The configs refuse a learning rate above 1 (`gan_course.checks.learning_rate`), so the 'for real' cases
lift that check for the test (`huge_lr_allowed`): this file tests the guard, not the config checks
(those are in test_bad_input.py).
"""
import math
import re
import warnings

import pytest
import torch

from gan_course import checks, gan2d, gumbel, seqgan, train, vae_gan_text
from gan_course.models import arae, lm, sentence_vae
from gan_course.translation import nmt_adversarial, seq2seq, unsup_mt
from gan_course.models import vae as image_vae
from gan_course.models.oracle import SeqGenerator
from tiny_data import V, sentence_vae_config, tiny_images, tiny_monolingual, tiny_pairs, tiny_sentences, \
    tiny_seq_gan

HUGE = 1e30


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


@pytest.fixture
def huge_lr_allowed(monkeypatch):
    """Let the configs take lr=HUGE (they refuse lr > 1): the divergence it causes is what is tested."""
    real = checks.learning_rate
    monkeypatch.setattr(checks, "learning_rate", lambda name, value, maximum=1.0: real(name, value, 10 * HUGE))


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
    cfg = unsup_mt.RoundsConfig(emb=8, hidden=16, rounds=1, steps_per_round=10, batch_size=8)
    cfg.lr = cfg.lr_d = HUGE                      # past RoundsConfig's check of lr, on purpose
    first = unsup_mt.WordByWord({("a", "b"): {f"a{i}": f"b{i}" for i in range(6)},
                                 ("b", "a"): {f"b{i}": f"a{i}" for i in range(6)}})
    torch.manual_seed(0)
    unsup_mt.train_rounds(unsup_mt.UnsupervisedTranslator(data.vocab, cfg.model_config()), data, first, cfg)


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
    "unsup_mt.train_rounds": (diverge_unsup_mt, "lower lr or adv_weight"),
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
def test_divergence_stops_says_what_to_change_and_restores_finite_weights(name, guards, monkeypatch,
                                                                         huge_lr_allowed):
    run, hint = CASES[name]
    with pytest.raises(train.TrainingDiverged) as caught:
        run(monkeypatch)
    message = str(caught.value)
    what, _, change = message.partition("What to change: ")
    assert re.match(r"training diverged at step \d+ \(.*(not finite|exploded: .*)\)\. "
                    r"Restored (the weights of step \d+|the initial weights)( \(they gave .*\))?\. $", what), message
    assert "weight " in what or "exploded" in what, \
        f"{name}: no weight was non-finite and no loss exploded, so the restore is not tested: {message}"
    restored = caught.value.restored_losses
    assert all(math.isfinite(v) and abs(v) < 1e3 * 1e3 for v in restored.values()), \
        f"{name}: the restored weights gave {restored}: not good losses"
    assert hint in change, f"{name}: the message should say {hint!r}; it says {change!r}"
    assert re.search(r"\blr\b|\blr_|learning rate", change), f"{name}: no learning rate named in {change!r}"
    assert guards, f"{name}: the trainer made no DivergenceGuard"
    bad = not_finite(guards)
    assert not bad, f"{name}: after TrainingDiverged these are still not finite: {bad[:5]}"


# ------------------------------------------------------------------------------------ the probe's reproductions
# reviews/bad-input (issue 22): what a restored state's loss must be, a NaN that must not reach disk,
# a finite blow-up that must be flagged.

def _line():
    x = torch.linspace(-1, 1, 64)[:, None]
    return x, 3 * x - 0.5


def test_a_blow_up_restores_weights_whose_loss_is_good_not_merely_finite():
    # notebook 00's bad run: SGD at lr=50 multiplies the error by ~100 a step; the old guard restored
    # finite weights of loss inf (|w| 5e15). Now the restored weights give a loss near the first one.
    x, y = _line()
    torch.manual_seed(0)
    m = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(m.parameters(), lr=50.0)
    first = torch.nn.functional.mse_loss(m(x), y).item()

    def step(i):
        loss = torch.nn.functional.mse_loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    with pytest.raises(train.TrainingDiverged, match="exploded") as caught:
        train.loop(step, 200, guard=train.DivergenceGuard(m, optimizers=[opt], snapshot_every=1), show_progress=False)
    with torch.no_grad():
        restored = torch.nn.functional.mse_loss(m(x), y).item()
    assert math.isfinite(restored) and restored <= 2 * first, (restored, first)
    assert caught.value.restored_losses["loss"] == pytest.approx(restored, rel=1e-5)
    assert caught.value.history["loss"][0] == (0, pytest.approx(first))      # the history is kept


def test_nan_weights_never_reach_the_checkpoint(tmp_path):
    # one bad update makes the weights NaN while the loss of that step was still finite: the guard checks
    # the weights before the Checkpointer writes them, so resume() continues from finite weights.
    x, y = _line()
    torch.manual_seed(0)
    m = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    path = tmp_path / "lin.pt"
    ck = train.Checkpointer(path, kind="lin", modules={"m": m}, optimizers={"opt": opt}, every=1)

    def step(i):
        loss = torch.nn.functional.mse_loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i == 3:
            with torch.no_grad():
                m.weight.fill_(float("nan"))
        return {"loss": loss.item()}

    with pytest.raises(train.TrainingDiverged, match="not finite") as caught:
        train.loop(step, 8, guard=train.DivergenceGuard(m, optimizers=[opt]), checkpointer=ck, show_progress=False)
    assert [s for s, _ in caught.value.history["loss"]] == [0, 1, 2, 3]
    m2 = torch.nn.Linear(1, 1)
    start = train.Checkpointer(path, kind="lin", modules={"m": m2}).resume()
    assert start == 3 and torch.isfinite(m2.weight).all()
    with torch.no_grad():
        resumed = torch.nn.functional.mse_loss(m2(x), y).item()
    assert resumed < caught.value.history["loss"][0][1], "the saved weights are those of steps that lowered the loss"


def test_checkpointer_refuses_non_finite_weights(tmp_path):
    m = torch.nn.Linear(1, 1)
    with torch.no_grad():
        m.weight.fill_(float("inf"))
    with pytest.raises(train.TrainingDiverged, match="not saving"):
        train.Checkpointer(tmp_path / "x.pt", kind="lin", modules={"m": m}, every=1).save(0)
    assert not (tmp_path / "x.pt").exists()


def test_a_finite_blow_up_of_a_language_model_is_flagged():
    # an LM at lr=1e4 (the probe's DV05): the loss goes from 2.5 to 2.8e4 and stays finite. lm.fit refuses
    # lr > 1 now; the same run through train.loop directly must be stopped by the explosion test.
    torch.manual_seed(0)
    model = lm.LanguageModel(lm.LMConfig(vocab_size=V, emb=8, hidden=16))
    opt = torch.optim.Adam(model.parameters(), lr=1e4)
    seqs = tiny_sentences()
    batch = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs[:16]], batch_first=True)

    def step(i):
        logits, _ = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    with pytest.raises(train.TrainingDiverged, match="exploded|not finite") as caught:
        train.loop(step, 60, guard=train.DivergenceGuard(model, optimizers=[opt], snapshot_every=1),
                   show_progress=False)
    assert caught.value.restored_losses["loss"] < 2 * math.log(V)


def test_the_explosion_test_does_not_trip_on_an_oscillating_or_negative_loss():
    m = torch.nn.Linear(1, 1)
    guard = train.DivergenceGuard(m)
    for i in range(2000):              # a WGAN critic drifting to -50, a GAN loss oscillating in [0.3, 3]
        guard.check(i, loss_d=-0.01 - 0.025 * i, loss_g=1.6 + 1.3 * math.sin(i / 7), d_acc=0.5)
    with pytest.raises(train.TrainingDiverged, match="exploded"):
        guard.check(2000, loss_d=-2e3)
    off = train.DivergenceGuard(m, explode=None)
    off.check(0, loss=1.0)
    off.check(1, loss=1e30)            # off: only NaN/Inf count
