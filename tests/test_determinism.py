"""Same seed, same run: every trainer of the course, run twice from scratch in one process on the CPU,
logs bit-identical losses, computes identical metrics and ends with bit-identical weights.

Each `run_*` function below does what a notebook does: build the models at a tiny size from a fixed
seed (the course's `build` functions seed torch themselves; models built directly are preceded by
`torch.manual_seed(SEED)`), train a few steps, compute a metric or two. Before each of the two runs the
test puts torch's and NumPy's global generators in a DIFFERENT state, so a trainer that quietly depended
on random numbers drawn before its seed (instead of its own seeded generator) would fail here.

gan_course.densities1d has no trainer (its functions are exact integrals on a grid), so it is not listed.
"""
import warnings

import numpy as np
import pytest
import torch

from gan_course import gan2d, gumbel, seqgan, vae_gan_text
from gan_course.models import arae, lm, sentence_vae
from gan_course.translation import nmt_adversarial, seq2seq, unsup_mt
from gan_course.models import vae as image_vae
from tiny_data import SEED, V, sentence_vae_config, tiny_images, tiny_monolingual, tiny_pairs, tiny_sentences, \
    tiny_seq_gan

pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


# ------------------------------------------------------------------------------------ one run per trainer
# Each returns (history {name: [(step, value), ...]}, metrics {name: value}, [trained modules]).

def run_gan2d(**overrides):
    gan = gan2d.GAN2D(gan2d.GAN2DConfig(width=16, depth=2, batch=32, seed=SEED, **overrides))
    hist = gan.train(6, show_progress=False)
    m = gan.metrics(n=500)
    return hist, {"modes": m.modes, "high_quality": m.high_quality}, [gan.G, gan.D]


def run_vae():
    x, y = tiny_images()
    cfg = image_vae.VAEConfig(width=16, depth=1, steps=4, batch_size=16, eval_every=2, seed=SEED)
    model, hist = image_vae.fit_vae(cfg, x[:48], y[:48], x_valid=x[48:])   # valid_elbo: a metric, in hist
    return hist, {}, [model]


def run_aae():
    x, y = tiny_images()
    cfg = image_vae.AAEConfig(width=16, depth=1, d_width=8, prior="mixture10", steps=4, batch_size=16, seed=SEED)
    model, hist = image_vae.fit_aae(cfg, x, y)
    return hist, {"samples": model.sample(4, generator=torch.Generator().manual_seed(0)).tolist()}, [model]


def run_lm():
    seqs = tiny_sentences()
    torch.manual_seed(SEED)
    model = lm.LanguageModel(lm.LMConfig(vocab_size=V, emb=8, hidden=16, dropout=0.1))
    losses = lm.fit(model, seqs, steps=4, batch_size=8, seed=SEED)
    return {"loss": losses}, {"nll": lm.nll_per_token(model, seqs)}, [model]


def run_sentence_vae():
    seqs = tiny_sentences()
    model, hist = sentence_vae.fit(sentence_vae_config(word_dropout=0.3, kl_schedule="linear", kl_warmup=4), seqs)
    metrics = sentence_vae.evaluate(model, seqs, k=4, generator=torch.Generator().manual_seed(0))
    return hist, metrics, [model]


def run_sentence_lm_baseline():
    seqs = tiny_sentences()
    model, hist = sentence_vae.fit_lm(lm.LMConfig(vocab_size=V, emb=8, hidden=16, dropout=0.1), seqs, steps=4,
                                      batch_size=8, seed=SEED)
    return hist, {"nll": sentence_vae.lm_nll(model, seqs).tolist()}, [model]


def run_arae():
    seqs = tiny_sentences()
    cfg = arae.ARAEConfig(vocab_size=V, emb=8, hidden=16, d_code=4, d_noise=3, width=16, depth=1, steps=4,
                          batch_size=8, critic_steps=2, seed=SEED)
    model, hist = arae.fit(cfg, seqs)
    return hist, {"samples": model.sample(4, max_len=5, generator=torch.Generator().manual_seed(0)).tolist()}, [model]


def run_gumbel_gan():
    G, D, real = tiny_seq_gan()
    gan = gumbel.GumbelGAN(G, D, real, gumbel.GumbelGANConfig(steps=4, batch_size=8, mle_weight=0.5),
                           generator=torch.Generator().manual_seed(SEED))
    hist = gan.train()
    hist.pop("seconds")                                          # wall time: never the same twice
    return hist, {"nll_real": G.nll(real).item()}, [G, D]


def run_seqgan():
    G, D, real = tiny_seq_gan()
    pre = seqgan.pretrain_generator(G, real, epochs=1, batch_size=16, seed=SEED)
    pre.pop("seconds")
    counts = {k: pre.pop(k) for k in [k for k, v in pre.items() if not isinstance(v, list)]}   # epochs_run
    rounds, opt_d = seqgan.pretrain_discriminator(D, G, real, rounds=1, n=32, epochs=1, seed=SEED)
    gan = seqgan.SeqGAN(G, D, real, seqgan.SeqGANConfig(n_rollouts=2, batch_size=8, d_samples=32),
                        generator=torch.Generator().manual_seed(SEED))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", seqgan.ModeCollapse)   # a toy G may look collapsed; not the point here
        hist = gan.train(2, evaluate=lambda G: {"nll_real": G.nll(real).item()})
    hist.update({f"pretrain_{k}": v for k, v in pre.items()})
    return hist, {"d_pretrain": rounds, **counts}, [G, D]


def run_vae_gan():
    seqs = tiny_sentences()
    vcfg = sentence_vae_config(word_dropout=0.2)
    vae = sentence_vae.build(vcfg)
    gan = vae_gan_text.VAEGAN(vae, vae_gan_text.VAEGANConfig(vae=vcfg, seq_len=6, d_filters=4, steps=3, seed=SEED),
                              seqs)
    hist = gan.train()
    return hist, {"d_accuracy": gan.d_accuracy(seqs[:16])}, [gan.vae, gan.D]


def run_seq2seq():
    pairs, vocab = tiny_pairs()
    torch.manual_seed(SEED)
    model = seq2seq.Seq2Seq(seq2seq.Seq2SeqConfig(len(vocab), len(vocab), emb=8, hidden=16))   # dropout 0.1
    hist = seq2seq.train_mle(model, pairs, vocab, vocab, steps=4, batch_size=16, seed=SEED)
    return hist, {"greedy": seq2seq.translate(model, [p.src for p in pairs[:4]], vocab, vocab)}, [model]


def run_nmt_adversarial():
    pairs, vocab = tiny_pairs()
    torch.manual_seed(SEED)
    G = seq2seq.Seq2Seq(seq2seq.Seq2SeqConfig(len(vocab), len(vocab), emb=8, hidden=16))
    D = nmt_adversarial.PairDiscriminator(len(vocab), len(vocab), emb=8, channels=8)
    cfg = nmt_adversarial.AdversarialConfig(steps=3, batch_size=8, d_pretrain=2, max_len=8, seed=SEED)
    hist = nmt_adversarial.train_adversarial(G, D, pairs, vocab, vocab, cfg)
    mle = nmt_adversarial.train_mle_more(G, pairs, vocab, vocab, cfg)    # the fair baseline's trainer
    hist.update({f"mle_{k}": v for k, v in mle.items()})
    acc = nmt_adversarial.discriminator_accuracy(D, G, pairs[:16], vocab, vocab, max_len=8, seed=0)
    return hist, {"d_accuracy": acc}, [G, D]


def run_unsup_mt():
    data = tiny_monolingual()
    cfg = unsup_mt.RoundsConfig(emb=8, hidden=16, rounds=2, steps_per_round=3, batch_size=8, seed=SEED)
    first = unsup_mt.WordByWord({("a", "b"): {f"a{i}": f"b{(i + 1) % 6}" for i in range(6)},
                                 ("b", "a"): {f"b{i}": f"a{(i + 5) % 6}" for i in range(6)}})
    torch.manual_seed(SEED)
    model = unsup_mt.UnsupervisedTranslator(data.vocab, cfg.model_config())
    hist, per_round = unsup_mt.train_rounds(model, data, first, cfg)
    return hist, {"a_to_b": model.translate(data.text["a"][:4], "a", "b", max_len=6), "rounds": len(per_round)}, [model]


RUNS = {
    "gan2d nonsaturating": run_gan2d,
    "gan2d wgan_gp+r1+pack+spectral_norm+ema+decay": lambda: run_gan2d(
        loss="wgan_gp", r1_weight=1.0, pack=2, spectral_norm=True, ema=0.9, decay_steps=10),
    "vae.fit_vae": run_vae,
    "vae.fit_aae": run_aae,
    "lm.fit": run_lm,
    "sentence_vae.fit": run_sentence_vae,
    "sentence_vae.fit_lm": run_sentence_lm_baseline,
    "arae.fit": run_arae,
    "gumbel.GumbelGAN": run_gumbel_gan,
    "seqgan (pretrain G, pretrain D, SeqGAN)": run_seqgan,
    "vae_gan_text.VAEGAN": run_vae_gan,
    "seq2seq.train_mle": run_seq2seq,
    "nmt_adversarial (train_adversarial, train_mle_more)": run_nmt_adversarial,
    "unsup_mt.train_rounds": run_unsup_mt,
}


# ------------------------------------------------------------------------------------ the test

def run_from_scratch(run, unrelated_seed: int):
    """Scramble the global generators (as unrelated earlier cells would), then do the run.
    Returns (history, metrics, {module index.name: weight or buffer copy})."""
    torch.manual_seed(unrelated_seed)
    torch.rand(unrelated_seed)                 # and move the stream along by a different amount
    np.random.seed(unrelated_seed)
    hist, metrics, modules = run()
    weights = {f"{i}.{k}": v.detach().clone() for i, m in enumerate(modules) for k, v in m.state_dict().items()}
    return hist, metrics, weights


@pytest.mark.parametrize("name", list(RUNS))
def test_same_seed_gives_identical_losses_metrics_and_weights(name):
    hist1, metrics1, weights1 = run_from_scratch(RUNS[name], unrelated_seed=1)
    hist2, metrics2, weights2 = run_from_scratch(RUNS[name], unrelated_seed=7)
    # something was trained and logged, every logged value a finite float
    assert hist1 and all(len(v) > 0 for v in hist1.values()), hist1
    assert weights1
    for k, v in hist1.items():
        values = [p[1] if isinstance(p, tuple) else p for p in v]
        assert np.isfinite(np.asarray(values, dtype=float)).all(), f"{name}: {k} is not finite: {values}"
    # exact equality: not approximately, bit for bit
    assert hist1 == hist2, f"{name}: the logged values differ between two runs with seed {SEED}"
    assert metrics1 == metrics2, f"{name}: the metrics differ: {metrics1} vs {metrics2}"
    assert weights1.keys() == weights2.keys()
    differ = [k for k in weights1 if not torch.equal(weights1[k], weights2[k])]
    assert not differ, f"{name}: final weights differ between two runs with seed {SEED}: {differ[:5]}"


def test_gan2d_wgan_gp_ignores_the_global_rng():
    """The gradient penalty's interpolation weights come from the GAN's own generator: torch's global
    random state, used by anything else in a notebook between steps, does not change the run."""
    from gan_course import gan2d

    def run(disturb):
        gan = gan2d.GAN2D(loss="wgan_gp", width=16, depth=2, batch=32, seed=3)
        for _ in range(5):
            if disturb:
                torch.rand(7)          # someone else draws from the global stream
            gan.step()
        return [p.detach().clone() for p in gan.D.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(run(False), run(True)))
