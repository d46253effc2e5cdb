"""Unsupervised MT: disjoint monolingual corpora, the noise model, codes for the adversary, a few steps."""
import numpy as np
import pytest
import torch

from gan_course.translation import unsup_mt as U


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return U.monolingual_corpora("en-fr", n_each=300, n_test=30, seed=0, cache_dir=tmp_path_factory.mktemp("c"))


def test_corpora_are_disjoint_and_unpaired(data):
    en, fr = set(data.numbers["en"].tolist()), set(data.numbers["fr"].tolist())
    test = {p.key for p in data.test}
    assert len(en) == len(fr) == 300 and not en & fr and not (en | fr) & test
    assert data.langs == ("en", "fr") and len(data.text["en"]) == 300
    with pytest.raises(ValueError, match="allowed pairs"):
        U.monolingual_corpora("en-xx")
    with pytest.raises(ValueError, match="sampling"):
        U.monolingual_corpora("en-fr", n_each=10, sampling="zipf")


def test_noise():
    rng = np.random.default_rng(0)
    toks = list("abcdefghij")
    assert U.add_noise(toks, 0.0, 1, rng) == toks
    for _ in range(50):
        out = U.add_noise(toks, 0.0, 3, rng)
        assert sorted(out) == toks and all(abs(out.index(t) - i) < 3 for i, t in enumerate(toks))
        assert len(U.add_noise(["x"], 0.99, 3, rng)) == 1                 # never empty


def constant_first(data):
    """A (useless) first translator: every word -> the first word of the other language."""
    return U.WordByWord({("en", "fr"): {w: data.vocab["fr"].itos[4] for w in data.vocab["en"].itos[4:]},
                         ("fr", "en"): {w: data.vocab["en"].itos[4] for w in data.vocab["fr"].itos[4:]}})


def test_model_codes_and_training(data):
    cfg = U.RoundsConfig(emb=16, hidden=24, rounds=1, steps_per_round=2, batch_size=8)
    torch.manual_seed(0)
    m = U.UnsupervisedTranslator(data.vocab, cfg.model_config())
    sents = data.text["en"][:5]
    enc = m.encode(sents, "en")
    assert U.codes(enc).shape == (sum(len(s) for s in sents) + 5, 24)
    assert torch.isfinite(m.reconstruction_loss(enc, sents, "en"))
    for use_adv in (True, False):
        hist, _ = U.train_rounds(m, data, constant_first(data), U.RoundsConfig(**{**cfg.__dict__, "use_adversary": use_adv}))
        assert ("d_accuracy" in hist) == use_adv and len(hist["loss_bt"]) == 2
    hist, _ = U.train_rounds(m, data, constant_first(data), U.RoundsConfig(**{**cfg.__dict__, "use_backtranslation": False}))
    assert "loss_bt" not in hist and len(hist["loss_auto"]) == 2
    out = m.translate([p.src for p in data.test[:4]], "en", "fr", max_len=12)
    assert len(out) == 4 and all(len(t) <= 12 for t in out)


def test_digit_sum_corpora_share_no_number(tmp_path):
    d = U.monolingual_corpora("en-fr", n_each=400, n_test=40, seed=0, sampling="digit-sum", cache_dir=tmp_path)
    en, fr = set(d.numbers["en"].tolist()), set(d.numbers["fr"].tolist())
    assert len(en) == len(fr) == 400 and not en & fr and not (en | fr) & {p.key for p in d.test}
    # the law: small digit sums are more frequent than in a uniform draw
    assert U.digit_sum(np.array([71280, 0, 9])).tolist() == [18, 0, 9]
    assert U.digit_sum(d.numbers["en"]).mean() < 0.7 * 27
    with pytest.raises(ValueError, match="sampling"):
        U.monolingual_corpora("en-fr", n_each=10, sampling="zipf")
    with pytest.raises(ValueError, match="n_each=0"):
        U.monolingual_corpora("en-fr", n_each=0)


def test_rounds_config_bad_input():
    with pytest.raises(ValueError, match="rounds=0 must be a positive integer"):
        U.RoundsConfig(rounds=0)
    with pytest.raises(ValueError, match="rounds=-2 must be a positive integer"):
        U.RoundsConfig(rounds=-2)
    with pytest.raises(ValueError, match="steps_per_round"):
        U.RoundsConfig(steps_per_round=0)
    with pytest.raises(ValueError, match=r"\(src, tgt\)"):
        U.WordByWord({("en", "fr"): {"two": "deux"}}).translate([["two"]], "en", "de")
    with pytest.raises(ValueError, match="entries"):
        U.WordByWord({("en", "fr"): {}})


class _Frozen:
    """Wraps the previous round's model: records what it was asked and checks it never changes."""

    def __init__(self, model):
        self.model = model
        self.calls = 0

    def translate(self, sentences, src, tgt, **kw):
        self.calls += 1
        return self.model.translate(sentences, src, tgt, **kw)


def test_a_round_translates_with_the_frozen_previous_model(data):
    cfg = U.RoundsConfig(emb=16, hidden=24, rounds=2, steps_per_round=3, batch_size=8)
    torch.manual_seed(0)
    model = U.UnsupervisedTranslator(data.vocab, cfg.model_config())
    first = constant_first(data)
    seen = []

    def evaluate(k, m):
        seen.append({n: p.detach().clone() for n, p in m.state_dict().items()})
        return {"k": k}

    before = {n: p.detach().clone() for n, p in model.state_dict().items()}
    hist, per_round = U.train_rounds(model, data, first, cfg, evaluate=evaluate)
    assert [r["round"] for r in per_round] == [1, 2] and len(hist["loss_bt"]) == 6
    assert any(not torch.equal(before[n], seen[0][n]) for n in before)     # round 1 trained the model

    # round k uses a frozen copy of round k-1: wrap a trained model, run one more round from it, and
    # check that the frozen model's weights did not move while the live one trained
    frozen_model = U.UnsupervisedTranslator(data.vocab, cfg.model_config())
    frozen_model.load_state_dict(model.state_dict())
    frozen = _Frozen(frozen_model)
    snapshot = {n: p.detach().clone() for n, p in frozen_model.state_dict().items()}
    U.train_rounds(model, data, frozen, U.RoundsConfig(**{**cfg.__dict__, "rounds": 1}))
    assert frozen.calls == 2                                                 # both directions, once each
    assert all(torch.equal(snapshot[n], p) for n, p in frozen_model.state_dict().items())
    assert any(not torch.equal(snapshot[n], p) for n, p in model.state_dict().items())


def test_rounds_refuse_bad_corpora(data):
    cfg = U.RoundsConfig(emb=8, hidden=8, rounds=1, steps_per_round=1, batch_size=4)
    model = U.UnsupervisedTranslator(data.vocab, cfg.model_config())
    first = U.WordByWord({("en", "fr"): {"x": "y"}, ("fr", "en"): {"y": "x"}})
    bad = U.Monolingual(data.langs, {"en": data.text["en"][:5] + [[]], "fr": data.text["fr"][:5]},
                        data.numbers, data.vocab, data.test)
    with pytest.raises(ValueError, match=r"data.text\['en'\]\[5\]=\[\] is not allowed"):
        U.train_rounds(model, bad, first, cfg)
    bad = U.Monolingual(data.langs, {"en": data.text["en"][:5] + [["two", "million"]], "fr": data.text["fr"][:5]},
                        data.numbers, data.vocab, data.test)
    with pytest.raises(ValueError, match="'million', a word outside the vocabulary"):
        U.train_rounds(model, bad, first, cfg)
    with pytest.raises(TypeError, match="RoundsConfig"):
        U.train_rounds(model, data, first, U.TranslatorConfig())


def test_translate_with_beam(data):
    cfg = U.RoundsConfig(emb=16, hidden=24, rounds=1, steps_per_round=2, batch_size=8)
    torch.manual_seed(0)
    m = U.UnsupervisedTranslator(data.vocab, cfg.model_config())
    src = [p.src for p in data.test[:6]]
    assert m.translate(src, "en", "fr", max_len=10, beam=1) == m.translate(src, "en", "fr", max_len=10)
    out = m.translate(src, "en", "fr", max_len=10, beam=3, batch_size=4)        # two batches
    assert len(out) == 6 and all(len(t) <= 10 and set(t) <= set(data.vocab["fr"].itos[3:]) for t in out)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="beam=.*positive integer"):
            m.translate(src, "en", "fr", beam=bad)
