"""What a user can get wrong, across the whole package: one row per mistake.

Each case calls a public function or class with a bad value and checks (1) the exception type, (2) that
the message names the parameter, and (3) that it says what is allowed (the values, the range or the
shape). None of them may end in a stack trace from deep inside torch. Module tests check more cases of
their own; this table is the cross-package inventory of them.
"""
import re

import pytest
import torch

from gan_course import checkpoint, exercises, losses, plots, results, runtime, train, widgets
from gan_course.data import parallel, text, toy2d, vocab
from gan_course.metrics import modes
from gan_course.metrics import text as text_metrics
from gan_course.metrics import translation
from gan_course.models import lm, mlp, oracle
from gan_course.translation import seq2seq
from gan_course import gan2d, gumbel, seqgan, densities1d


def _logits(*shape):
    return torch.zeros(*shape)


def _tiny_lm():
    return lm.LanguageModel(lm.LMConfig(vocab_size=10, emb=4, hidden=8))


# (id, call, exception, regex that must match the message: parameter ... allowed values/range/shape)
CASES = [
    # runtime: settings
    ("runtime.device unknown", lambda: runtime.device("tpu"), ValueError, r"device='tpu'.*allowed values: auto, cpu, cuda, cuda:N, mps"),
    ("runtime.fast maybe", lambda: runtime.fast_mode("maybe"), ValueError, r"FAST='maybe'.*allowed values"),
    ("runtime.threads 0", lambda: runtime.set_threads(0), ValueError, r"threads=0.*positive integer"),
    ("runtime.seed negative", lambda: runtime.seed_everything(-3), ValueError, r"seed must be a non-negative integer"),
    # results, plots, widgets, exercises
    ("results.record empty name", lambda: results.record(" ", 1), ValueError, r"name must be a non-empty string"),
    ("plots.LivePlot string", lambda: plots.LivePlot("loss"), TypeError, r"groups must be a list of curve names"),
    ("plots.LivePlot every_s", lambda: plots.LivePlot(["a"], every_s=-1), ValueError, r"every_s must be >= 0"),
    ("widgets.slider outside", lambda: widgets.slider(5, 0, 1, description="beta"), ValueError, r"'beta'.*value=5 must lie in \[0, 1\]"),
    ("widgets.dropdown unknown", lambda: widgets.dropdown(["gauss", "ring"], "swiss"), ValueError, r"value='swiss' is not one of \['gauss', 'ring'\]"),
    # checkpoint, train
    ("checkpoint.load missing", lambda: checkpoint.load("/nonexistent/x.pt"), FileNotFoundError, r"path='/nonexistent/x.pt'"),
    ("checkpoint.save kind", lambda: checkpoint.save("/tmp/x.pt", kind="", state={"m": {}}), ValueError, r"kind must be a non-empty string"),
    ("train.loop every", lambda: train.loop(lambda i: {}, 2, every=0), ValueError, r"every=0 is not allowed; allowed: a positive integer"),
    ("train.guard not a module", lambda: train.DivergenceGuard("G"), TypeError, r"modules must be torch.nn.Module"),
    ("train.Checkpointer every", lambda: train.Checkpointer("/tmp/c.pt", kind="k", modules={"m": torch.nn.Linear(1, 1)}, every=0), ValueError, r"every=0 is not allowed; allowed: a positive integer"),
    # losses
    ("losses.gan_loss name", lambda: losses.gan_loss("wasserstein"), ValueError, r"loss='wasserstein'.*allowed values: minimax, nonsaturating, least_squares, wgan_gp, hinge"),
    ("losses.d_loss_bce shape", lambda: losses.d_loss_bce(_logits(4, 1), _logits(4)), ValueError, r"real_logits must have shape \(batch,\)"),
    ("losses.gaussian_kl shapes", lambda: losses.gaussian_kl(_logits(4, 2), _logits(4, 3)), ValueError, r"mu \(4, 2\), logvar \(4, 3\)"),
    ("losses.elbo beta", lambda: losses.elbo(_logits(3), _logits(3), beta=-1), ValueError, r"beta must be >= 0"),
    ("losses.iwae shape", lambda: losses.iwae_bound(_logits(5)), ValueError, r"log_weights must have shape \(K, batch\)"),
    ("losses.gradient_penalty shapes", lambda: losses.gradient_penalty(lambda x: x.sum(1), _logits(4, 2), _logits(3, 2)), ValueError, r"real and fake must have the same shape"),
    # models
    ("mlp.width 0", lambda: mlp.MLP(2, 1, width=0), ValueError, r"width must be a positive integer"),
    ("mlp.activation", lambda: mlp.MLP(2, 1, activation="gelu"), ValueError, r"activation='gelu'.*allowed: relu, leaky_relu, tanh, elu"),
    ("mlp.input shape", lambda: mlp.MLP(2, 1)(torch.zeros(3, 5)), ValueError, r"x must have shape \(batch, 2\)"),
    ("lm.cell", lambda: lm.LanguageModel(lm.LMConfig(vocab_size=10, cell="rnn")), ValueError, r"cell='rnn'.*allowed values: gru, lstm"),
    ("lm.temperature 0", lambda: _tiny_lm().generate(2, 5, temperature=0), ValueError, r"temperature must be a number > 0"),
    ("lm.top_k too big", lambda: _tiny_lm().generate(2, 5, top_k=11), ValueError, r"top_k must be None \(no cut\) or an integer in 1..10"),
    ("lm.tokens out of vocab", lambda: _tiny_lm()(torch.full((2, 3), 12)), ValueError, r"tokens must be ids in 0..9"),
    ("oracle.tokens dtype", lambda: oracle.Oracle(seed=0, config=oracle.SeqGenConfig(vocab_size=20, seq_len=5)).nll(torch.zeros(2, 5)), TypeError, r"tokens must hold integer ids"),
    ("seq2seq.attention", lambda: seq2seq.Seq2SeqConfig(src_vocab=10, tgt_vocab=10, attention="dot-product"), ValueError, r"attention='dot-product'.*allowed values"),
    # data
    ("vocab.unknown policy", lambda: vocab.Vocab.build([["a"]]).encode(["a"], unknown="skip"), ValueError, r"unknown='skip'.*allowed values: 'unk', 'error'"),
    ("vocab.out of vocabulary", lambda: vocab.Vocab.build([["a"]]).encode(["zz"], unknown="error"), KeyError, r"tokens outside the vocabulary.*zz"),
    ("vocab.max_size", lambda: vocab.Vocab.build([["a"]], max_size=2), ValueError, r"max_size must be an integer > 4"),
    ("vocab.pad empty", lambda: vocab.pad_batch([]), ValueError, r"seqs is empty"),
    ("text.empty corpus", lambda: text.corpus_from_texts([]), ValueError, r"texts is empty"),
    ("text.level", lambda: text.corpus_from_texts(["a b"], level="byte"), ValueError, r"level='byte'.*allowed values: 'word', 'char'"),
    ("text.unit", lambda: text.word_corpus(unit="paragraph"), ValueError, r"unit='paragraph'.*allowed values"),
    ("text.genres", lambda: text.play_files(genres=["poems"]), ValueError, r"genres=.*poems.*allowed values"),
    ("parallel.pair", lambda: parallel.number_corpus(pair="en-xx"), ValueError, r"pair='en-xx'.*allowed pairs"),
    ("parallel.number range", lambda: parallel.number_phrase(10**9, "fr"), ValueError, r"number=1000000000 is out of range; supported numbers are 0..999,999"),
    ("parallel.language", lambda: parallel.number_phrase(5, "tlh"), ValueError, r"lang='tlh'.*allowed languages"),
    ("toy2d.data", lambda: toy2d.sample("circle", 10), ValueError, r"data='circle'.*allowed values"),
    ("toy2d.n", lambda: toy2d.sample("ring8", 0), ValueError, r"n must be a positive integer"),
    # metrics
    ("modes.sigma", lambda: modes.mode_metrics(torch.zeros(3, 2), torch.zeros(2, 2), sigma=0), ValueError, r"sigma must be > 0"),
    ("modes.centres shape", lambda: modes.mode_metrics(torch.zeros(3, 2), torch.zeros(2, 3), sigma=1), ValueError, r"centres must have shape \(M, 2\)"),
    ("text_metrics.bleu order", lambda: text_metrics.bleu(["a b"], ["a b"], max_order=0), ValueError, r"max_order must be an integer n-gram order in 1..9"),
    ("text_metrics.self_bleu one", lambda: text_metrics.self_bleu(["a b c"]), ValueError, r"samples must hold at least 2 sentences"),
    ("translation.lengths", lambda: translation.bleu(["a"], ["a", "b"]), ValueError, r"references has 2 items but there are 1 hypotheses"),
    # trainers of the lessons
    ("gan2d.loss", lambda: gan2d.GAN2D(loss="wasserstein"), ValueError, r"loss='wasserstein'.*allowed values"),
    ("gan2d.lr negative", lambda: gan2d.GAN2D(lr_d=-1e-3), ValueError, r"lr_d=-0.001 must lie in \(0, 1\]"),
    ("gan2d.batch zero", lambda: gan2d.GAN2D(batch=0), ValueError, r"batch=0 must be an integer >= 1"),
    ("gan2d.unknown field", lambda: gan2d.GAN2D(learning_rate=1e-3), (ValueError, TypeError), r"learning_rate"),
    ("gumbel.tau 0", lambda: gumbel.gumbel_softmax(torch.zeros(2, 3), tau=0), ValueError, r"tau \(the Gumbel-softmax temperature\) must be a finite number > 0"),
    ("gumbel.schedule", lambda: gumbel.temperature(3, schedule="cosine"), ValueError, r"schedule='cosine'.*allowed values"),
    ("seqgan.rollouts 0", lambda: seqgan.check_rollouts(0), ValueError, r"n_rollouts must be a positive integer"),
    ("seqgan.baseline", lambda: seqgan.baseline(torch.zeros(4, 5), kind="median"), ValueError, r"baseline='median'.*allowed values"),
    ("densities1d.p_data", lambda: densities1d.p_data("cauchy"), ValueError, r"p_data='cauchy'.*allowed values"),
    ("densities1d.grid", lambda: densities1d.grid(n=100), ValueError, r"n must be an odd number >= 3"),
    ("exercises.solution needs callable", lambda: exercises.solution(None, 3), TypeError, r"'int' object is not callable"),
    ("vae_gan_text.d_warmup negative", lambda: _vaegan_config(d_warmup=-1), ValueError, r"d_warmup=-1 is not allowed; allowed: a non-negative integer"),
]


def _vaegan_config(**overrides):
    from gan_course import vae_gan_text

    from gan_course.models.sentence_vae import SentenceVAEConfig

    vae = SentenceVAEConfig(vocab_size=20, hidden=8, d_z=2)
    return vae_gan_text.check_config(vae_gan_text.VAEGANConfig(vae=vae, **overrides))


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(call, exc, pattern):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    assert re.search(pattern, message, flags=re.S), f"message does not say what is allowed: {message!r}"
    # the error is raised by our own validation, not from inside torch
    tb = info.traceback
    assert not any("/torch/" in str(entry.path) for entry in tb[-1:]), f"raised inside torch: {tb[-1].path}"


def test_the_inventory_has_at_least_40_cases():
    assert len(CASES) >= 40
