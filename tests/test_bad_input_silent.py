"""The bad inputs that used to be accepted silently, the file cases, and the errors that used to appear only
during training (issue 22, the independent probe in reviews/bad-input/).

Three groups, each a table like test_bad_input.py's (a call, the exception, a regex naming the parameter
and what is allowed):

* silent: inputs that trained or scored without a word and gave a wrong answer (a bare string scored by
  characters, clip=0 zeroing every gradient, NaN weights of loss terms, ...);
* training-time: settings whose error surfaced deep inside the loop (eval_every=0, batch_size=0, an empty
  pair list, NaN learning rates from torch's Adam) or was reported as "training diverged";
* files: encodings, BOMs, corrupt checkpoints and caches, unwritable folders, another model's checkpoint at
  a load-or-train path (it must be refused, never overwritten), config values that weights_only cannot load.
"""
import codecs
import re

import numpy as np
import pytest
import torch

from gan_course import checkpoint, gan2d, gumbel, seqgan, train
from gan_course import vae_gan_text as vg
from gan_course.data import parallel, vocab
from gan_course.metrics import mmd, modes
from gan_course.metrics import text as text_metrics
from gan_course.metrics import translation
from gan_course.models import arae, lm, sentence_vae
from gan_course.models import vae as image_vae
from gan_course.models.oracle import Oracle, SeqGenConfig, SeqGenerator, oracle_data
from gan_course.translation import nmt_adversarial, seq2seq
from tiny_data import V, sentence_vae_config, tiny_images, tiny_pairs, tiny_sentences, tiny_seq_gan

pytestmark = pytest.mark.usefixtures("one_thread")


def _lm():
    torch.manual_seed(0)
    return lm.LanguageModel(lm.LMConfig(vocab_size=V, emb=8, hidden=8))


def _s2s():
    pairs, voc = tiny_pairs()
    torch.manual_seed(0)
    return seq2seq.Seq2Seq(seq2seq.Seq2SeqConfig(len(voc), len(voc), emb=8, hidden=8)), pairs, voc


def _translate(sources, **kw):
    model, _, voc = _s2s()
    return seq2seq.translate(model, sources, voc, voc, **kw)


def _vaegan(**kw):
    vcfg = sentence_vae_config()
    return vg.VAEGAN(sentence_vae.build(vcfg), vg.VAEGANConfig(vae=vcfg, seq_len=6, d_filters=4, steps=2, **kw),
                     tiny_sentences())


# ---------------------------------------------------------------------------------- silently wrong before
SILENT = [
    ("text bleu of a str", lambda: text_metrics.bleu("the cat sat", ["the cat sat"]), TypeError,
     r"hypotheses must be a list of sentences, got str.*allowed"),
    ("text self_bleu of a str", lambda: text_metrics.self_bleu("a b c a b c"), TypeError, r"samples must be a list"),
    ("translation exact_match of strs", lambda: translation.exact_match("vingt", "vingt"), TypeError,
     r"hypotheses must be a list of sentences"),
    ("translation bleu references str", lambda: translation.bleu(["a b"], "a b"), TypeError, r"references must be a list"),
    ("lm.fit clip 0", lambda: lm.fit(_lm(), tiny_sentences(), 2, batch_size=8, clip=0.0), ValueError,
     r"clip=0.0 is not allowed; allowed: None \(no clipping\) or a positive"),
    ("lm.fit clip negative", lambda: lm.fit(_lm(), tiny_sentences(), 2, batch_size=8, clip=-1.0), ValueError,
     r"clip=-1.0 is not allowed"),
    ("lm.fit negative steps", lambda: lm.fit(_lm(), tiny_sentences(), -3), ValueError, r"steps=-3 is not allowed"),
    ("SentenceVAEConfig clip 0", lambda: sentence_vae_config(clip=0.0), ValueError, r"SentenceVAEConfig.clip=0.0"),
    ("ARAEConfig clip negative", lambda: arae.ARAEConfig(vocab_size=V, clip=-1.0), ValueError, r"ARAEConfig.clip=-1.0"),
    ("SeqGANConfig clip 0", lambda: seqgan.SeqGANConfig(clip=0), ValueError, r"SeqGANConfig.clip=0"),
    ("GumbelGANConfig clip 0", lambda: gumbel.GumbelGANConfig(clip=0), ValueError, r"GumbelGANConfig.clip=0"),
    ("train_mle clip 0", lambda: seq2seq.train_mle(*_s2s()[:2], _s2s()[2], _s2s()[2], 2, clip=0), ValueError,
     r"clip=0.0 is not allowed"),
    ("VAEGAN gan_weight NaN", lambda: _vaegan(gan_weight=float("nan")), ValueError, r"gan_weight=nan is not allowed"),
    ("losses.elbo beta NaN", lambda: __import__("gan_course.losses").losses.elbo(torch.zeros(3), torch.zeros(3),
                                                                                  beta=float("nan")),
     ValueError, r"beta must be >= 0"),
    ("translate only unknown words, unknown='error'", lambda: _translate([["bananas", "pyjamas"]], unknown="error"),
     KeyError, r"tokens outside the vocabulary.*bananas"),
    ("translate unknown policy", lambda: _translate([["a"]], unknown="skip"), ValueError, r"unknown='skip'.*allowed"),
    ("translate empty sentence", lambda: _translate([[]]), ValueError, r"sources\[0\] is empty; allowed"),
    ("beam length_penalty NaN", lambda: seq2seq.beam_decode(None, None, beam=2, length_penalty=float("nan")),
     ValueError, r"length_penalty=nan is not allowed"),
    ("pad_batch max_len 0", lambda: vocab.pad_batch([[1, 2, 3]], max_len=0), ValueError, r"max_len=0 is not allowed"),
    ("NumberRecipe.for_mode('no')", lambda: seq2seq.NumberRecipe.for_mode("no"), TypeError,
     r"fast='no' is not allowed; allowed: True or False"),
    ("gan2d plain_gan negative steps", lambda: gan2d.plain_gan("ring8", steps=-5), ValueError, r"steps=-5"),
    ("gan2d d_surface resolution 0", lambda: gan2d.GAN2D(width=8, depth=1, batch=16).d_surface(resolution=0),
     ValueError, r"resolution=0 is not allowed"),
    ("lm.generate prefix without <bos>", lambda: _lm().generate(2, 3, prefix=torch.tensor([5, 6])), ValueError,
     r"prefix must begin with <bos>"),
    ("oracle nll of the wrong length", lambda: Oracle(seed=0, config=SeqGenConfig(vocab_size=20, seq_len=6)).nll(
        torch.zeros(4, 3, dtype=torch.long)), ValueError, r"seq_len=6"),
    ("mmd NaN samples", lambda: mmd.mmd2(torch.full((4, 2), float("nan")), torch.zeros(4, 2)), ValueError,
     r"x holds NaN"),
    ("mmd NaN bandwidth", lambda: mmd.mmd2(torch.randn(4, 2), torch.randn(4, 2), bandwidths=(1.0, float("nan"))),
     ValueError, r"bandwidths must be a non-empty list of positive"),
    ("mode_metrics negative threshold", lambda: modes.mode_metrics(torch.zeros(3, 2), torch.zeros(2, 2), 0.1,
                                                                   threshold=-3), ValueError, r"threshold=-3"),
]

# ---------------------------------------------------------------------------------- errors during training before
TRAINING_TIME = [
    ("VAEConfig eval_every 0", lambda: image_vae.VAEConfig(steps=3, eval_every=0), ValueError,
     r"VAEConfig.eval_every=0 is not allowed; allowed: a positive integer"),
    ("VAEConfig lr NaN", lambda: image_vae.VAEConfig(lr=float("nan")), ValueError,
     r"VAEConfig.lr=nan is not allowed; allowed: a finite learning rate in \(0, 1\]"),
    ("VAEConfig beta NaN (was 'training diverged')", lambda: image_vae.VAEConfig(beta=float("nan")), ValueError,
     r"VAEConfig.beta=nan"),
    ("AAEConfig lr_d huge", lambda: image_vae.AAEConfig(lr_d=1e4), ValueError, r"AAEConfig.lr_d=10000.0"),
    ("SentenceVAEConfig free_bits NaN (was 'training diverged')", lambda: sentence_vae_config(free_bits=float("nan")),
     ValueError, r"free_bits=nan"),
    ("SentenceVAEConfig lr negative", lambda: sentence_vae_config(lr=-1e-3), ValueError, r"SentenceVAEConfig.lr=-0.001"),
    ("ARAEConfig lr_gan NaN", lambda: arae.ARAEConfig(vocab_size=V, lr_gan=float("nan")), ValueError, r"lr_gan=nan"),
    ("SeqGANConfig lr_g NaN", lambda: seqgan.SeqGANConfig(lr_g=float("nan")), ValueError, r"lr_g=nan"),
    ("SeqGANConfig d_samples 0", lambda: seqgan.SeqGANConfig(d_samples=0), ValueError, r"d_samples=0"),
    ("GumbelGANConfig batch_size 0 (was 'training diverged')", lambda: gumbel.GumbelGANConfig(batch_size=0),
     ValueError, r"GumbelGANConfig.batch_size=0"),
    ("GumbelGANConfig tau0 < tau_min (named 'rate')", lambda: gumbel.GumbelGANConfig(tau0=0.1, tau_min=1.0),
     ValueError, r"tau_min=1.0 is not allowed with tau0=0.1"),
    ("LMConfig hidden 0", lambda: lm.LMConfig(vocab_size=V, hidden=0), ValueError, r"LMConfig.hidden=0"),
    ("LMConfig vocab_size a string", lambda: lm.LMConfig(vocab_size="2000"), TypeError, r"vocab_size='2000'"),
    ("lm.fit batch_size 0", lambda: lm.fit(_lm(), tiny_sentences(), 2, batch_size=0), ValueError, r"batch_size=0"),
    ("lm.fit lr 1e4", lambda: lm.fit(_lm(), tiny_sentences(), 2, lr=1e4), ValueError, r"lr=10000.0 is not allowed"),
    ("lm.nll_per_token nothing to predict", lambda: lm.nll_per_token(_lm(), [[1]]), ValueError,
     r"seqs\[0\]=\[1\] has nothing to predict"),
    ("SeqGenConfig init_std negative", lambda: SeqGenConfig(init_std=-1.0), ValueError, r"init_std=-1.0.*>= 0"),
    ("SeqGenerator.sample batch_size 0", lambda: SeqGenerator(SeqGenConfig(vocab_size=20, seq_len=6)).sample(
        4, batch_size=0), ValueError, r"batch_size=0"),
    ("train_mle no pairs", lambda: seq2seq.train_mle(_s2s()[0], [], _s2s()[2], _s2s()[2], 2), ValueError,
     r"pairs is empty"),
    ("train_mle lr NaN", lambda: seq2seq.train_mle(*_s2s()[:2], _s2s()[2], _s2s()[2], 2, lr=float("nan")),
     ValueError, r"lr=nan is not allowed"),
    ("translate batch_size 0", lambda: _translate([["a"]], batch_size=0), ValueError, r"batch_size=0"),
    ("AdversarialConfig lr_g huge", lambda: nmt_adversarial.AdversarialConfig(lr_g=50.0), ValueError,
     r"lr_g=50.0 is not allowed"),
    ("Seq2SeqConfig dropout a string", lambda: seq2seq.Seq2SeqConfig(10, 10, dropout="0.1"), TypeError,
     r"dropout='0.1'.*\[0, 1\)"),
    ("pretrain_generator lr NaN", lambda: seqgan.pretrain_generator(*tiny_seq_gan()[::2], 1, lr=float("nan")),
     ValueError, r"lr=nan"),
    ("number_corpus seed negative", lambda: parallel.number_corpus("en-fr", n_train=10, n_valid=5, n_test=5, seed=-1),
     ValueError, r"seed=-1 is not allowed; allowed: a non-negative integer"),
    ("SeqGAN vocabularies disagree", lambda: seqgan.SeqGAN(*_mismatched_gan()), ValueError,
     r"the vocabularies disagree: G.vocab_size=12 but D's vocab_size=10"),
    ("train.loop step returns a float", lambda: train.loop(lambda i: 1.0, 2, show_progress=False), TypeError,
     r"step_fn\(0\) returned float; allowed: a dict"),
    ("train.loop start past the end", lambda: train.loop(lambda i: {}, 3, start=10, show_progress=False), ValueError,
     r"start=10 is not allowed"),
]


def _mismatched_gan():
    from gan_course.models.text_gan import CNNConfig, CNNDiscriminator

    G, _, real = tiny_seq_gan()
    D = CNNDiscriminator(CNNConfig(vocab_size=10, seq_len=G.config.seq_len, emb=4, filter_sizes=(2,),
                                   num_filters=(4,)))
    return G, D, real


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in SILENT + TRAINING_TIME],
                         ids=[c[0] for c in SILENT + TRAINING_TIME])
def test_refused_before_training_with_a_clear_message(call, exc, pattern):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    assert re.search(pattern, message, flags=re.S), f"message does not say what is allowed: {message!r}"
    assert not any("/torch/" in str(entry.path) for entry in info.traceback[-1:]), "raised inside torch"


def test_translate_warns_when_no_word_is_known():
    with pytest.warns(UserWarning, match="no word is in the source vocabulary"):
        _translate([["bananas", "pyjamas"]])


def test_clip_none_means_no_clipping():
    torch.manual_seed(0)
    losses = lm.fit(_lm(), tiny_sentences(), 20, batch_size=8, clip=None)
    assert losses[-1] < losses[0]


# ---------------------------------------------------------------------------------- files
def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_tsv_with_a_bom_keeps_its_header_a_comment(tmp_path):
    p = _write(tmp_path / "bom.tsv", codecs.BOM_UTF8 + "# english\tfrench\nthe cat\tle chat\n".encode())
    pairs = parallel.load_tsv(p)
    assert [(x.src, x.tgt) for x in pairs] == [(["the", "cat"], ["le", "chat"])]


def test_tsv_not_utf8_names_file_and_line(tmp_path):
    p = _write(tmp_path / "latin1.tsv", "the cat\tle chat\ncoffee\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.tsv:2: line 2 is not valid utf-8 text.*allowed: a UTF-8 file"):
        parallel.load_tsv(p)
    assert parallel.load_tsv(p, encoding="latin-1")[1].tgt == ["café"]


def test_tsv_utf16_is_named(tmp_path):
    p = _write(tmp_path / "utf16.tsv", "the cat\tle chat\n".encode("utf-16"))
    with pytest.raises(ValueError, match=r"utf16.tsv: the file is UTF-16 text.*allowed: UTF-8"):
        parallel.load_tsv(p)
    assert parallel.load_tsv(p, encoding="utf-16")[0].src == ["the", "cat"]


def test_another_models_checkpoint_is_refused_not_overwritten(tmp_path):
    p = tmp_path / "07_mle_oracle.pt"
    checkpoint.save(p, kind="07_mle_oracle", config={"epochs": 50}, state={"module/G": {"w": torch.zeros(1)}})
    before = p.read_bytes()
    G, _, real = tiny_seq_gan()
    with pytest.raises(checkpoint.CheckpointConflict, match=r"not a checkpoint of kind 'seqgan-mle'.*retrain=True"):
        seqgan.pretrain_generator(G, real, 1, path=p)
    with pytest.raises(checkpoint.CheckpointConflict, match="lm_baseline"):
        sentence_vae.load_or_fit_lm(lm.LMConfig(vocab_size=V, emb=8, hidden=8), tiny_sentences(), p, steps=2)
    x, y = tiny_images()
    with pytest.raises(checkpoint.CheckpointConflict, match="vae_digits"):
        image_vae.load_or_fit(p, image_vae.VAEConfig(width=8, depth=1, steps=2, batch_size=8), x, y)
    assert p.read_bytes() == before, "the other model's checkpoint was changed"
    # asked for explicitly, it is replaced
    hist = seqgan.pretrain_generator(G, real, 1, path=p, retrain=True)
    assert "loaded" not in hist and checkpoint.load(p)["kind"] == "seqgan-mle"


def test_a_corrupt_file_at_a_load_or_train_path_is_refused(tmp_path):
    p = _write(tmp_path / "trunc.pt", b"PK\x03\x04 not really a zip")
    G, _, real = tiny_seq_gan()
    with pytest.raises(checkpoint.CheckpointConflict, match="not a readable course checkpoint"):
        seqgan.pretrain_generator(G, real, 1, path=p)
    assert p.read_bytes() == b"PK\x03\x04 not really a zip"


def test_the_same_model_with_other_settings_is_kept_aside(tmp_path, capsys):
    p = tmp_path / "mle.pt"
    G, _, real = tiny_seq_gan()
    seqgan.pretrain_generator(G, real, 1, path=p)
    seqgan.pretrain_generator(G, real, 2, path=p)                # other settings: retrain, keep the old one
    assert "kept it as mle.previous.pt" in capsys.readouterr().out
    assert checkpoint.load(tmp_path / "mle.previous.pt")["config"]["epochs"] == 1
    assert seqgan.pretrain_generator(G, real, 2, path=p)["loaded"] is True


def test_numpy_and_path_config_values_save_loadably(tmp_path):
    from pathlib import Path

    p = tmp_path / "c.pt"
    config = {"n_train": np.int64(4000), "lr": np.float32(0.5), "data": Path("data/x.tsv")}
    checkpoint.save(p, kind="k", config=config, state={"m": {"w": torch.zeros(1)}})
    assert checkpoint.load(p, kind="k", config=config)["config"] == {"n_train": 4000, "lr": 0.5, "data": "data/x.tsv"}
    with pytest.raises(TypeError, match=r"config.f=.*cannot be saved.*allowed"):
        checkpoint.save(p, kind="k", config={"f": object()}, state={"m": {"w": torch.zeros(1)}})
    with pytest.raises(TypeError, match=r"state.model.f=.*cannot be saved"):
        checkpoint.save(p, kind="k", state={"model": {"f": lambda: 0}})
    assert not list(tmp_path.glob(".*.tmp")), "a failed save left its temporary"


def test_number_translator_loads_what_it_saved_with_numpy_sizes(tmp_path):
    r = seq2seq.NumberRecipe(n_train=np.int64(60), n_valid=5, n_test=5, steps=2, emb=8, hidden=8, batch_size=16)
    assert seq2seq.number_translator(r, checkpoint_dir=tmp_path, verbose=False)[2]["loaded"] is False
    assert seq2seq.number_translator(r, checkpoint_dir=tmp_path, verbose=False)[2]["loaded"] is True


def test_an_unwritable_checkpoint_folder_is_refused_before_training(tmp_path):
    blocker = _write(tmp_path / "a_file", b"")
    r = seq2seq.NumberRecipe(n_train=60, n_valid=5, n_test=5, steps=2, emb=8, hidden=8, batch_size=16)
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*a_file/ck' is not a writable folder"):
        seq2seq.number_translator(r, checkpoint_dir=blocker / "ck", verbose=False)
    with pytest.raises(ValueError, match=r"path=.*cannot be written: its folder .* is not a writable folder"):
        checkpoint.save(blocker / "sub" / "x.pt", kind="k", state={"m": {"w": torch.zeros(1)}})
    G, _, real = tiny_seq_gan()
    with pytest.raises(ValueError, match="is not a writable folder"):
        seqgan.pretrain_generator(G, real, 1, path=blocker / "sub" / "mle.pt")


def test_a_damaged_oracle_cache_is_rebuilt(tmp_path):
    oracle = Oracle(seed=0, config=SeqGenConfig(vocab_size=20, seq_len=6, emb=8, hidden=8))
    train_, test_ = oracle_data(oracle, n_train=8, n_test=4, cache_dir=tmp_path)
    (cache,) = tmp_path.glob("oracle-*.pt")
    cache.write_bytes(cache.read_bytes()[:50])                  # truncated, as by a crash
    with pytest.warns(UserWarning, match="unreadable.*rebuilding"):
        again = oracle_data(oracle, n_train=8, n_test=4, cache_dir=tmp_path)
    assert torch.equal(again[0], train_) and torch.equal(again[1], test_)


def test_two_writers_of_one_path_use_their_own_temporaries(tmp_path):
    import os
    import time

    p = tmp_path / "shared.pt"
    stale = tmp_path / ".shared.pt.old.tmp"
    stale.write_bytes(b"left by a killed writer")
    old = time.time() - 2 * checkpoint.STALE_SECONDS
    os.utime(stale, (old, old))
    legacy = p.with_name(p.name + ".tmp")
    legacy.write_bytes(b"left by an earlier version")
    os.utime(legacy, (old, old))
    checkpoint.save(p, kind="k", state={"m": {"w": torch.ones(3)}})
    assert not stale.exists() and not legacy.exists(), "stale temporaries are cleaned at the next save"
    fresh = tmp_path / ".shared.pt.busy.tmp"
    fresh.write_bytes(b"another writer, now")
    checkpoint.save(p, kind="k", state={"m": {"w": torch.ones(3)}})
    assert fresh.exists(), "a live writer's temporary is left alone"


def test_resume_refuses_a_checkpoint_with_nan_weights(tmp_path):
    p = tmp_path / "nan.pt"
    m = torch.nn.Linear(1, 1)
    with torch.no_grad():
        m.weight.fill_(float("nan"))
    checkpoint.save(p, kind="lin", step=3, state={"module/m": m.state_dict(), "rng/torch": torch.get_rng_state()})
    with pytest.raises(checkpoint.CheckpointMismatch, match="non-finite weights"):
        train.Checkpointer(p, kind="lin", modules={"m": torch.nn.Linear(1, 1)}).resume()
