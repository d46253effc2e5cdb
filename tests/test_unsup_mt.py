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


def test_model_codes_and_training(data):
    cfg = U.UnsupConfig(emb=16, hidden=24, steps=3, bt_start=1, batch_size=8)
    torch.manual_seed(0)
    m = U.UnsupervisedTranslator(data.vocab, cfg)
    sents = data.text["en"][:5]
    enc = m.encode(sents, "en")
    assert U.codes(enc).shape == (sum(len(s) for s in sents) + 5, 24)
    assert torch.isfinite(m.reconstruction_loss(enc, sents, "en"))
    for use_adv in (True, False):
        hist, D = U.train_unsupervised(m, data, U.UnsupConfig(**{**cfg.__dict__, "use_adversary": use_adv}))
        assert ("d_accuracy" in hist) == use_adv and len(hist["loss_bt"]) == 2
    out = m.translate([p.src for p in data.test[:4]], "en", "fr", max_len=12)
    assert len(out) == 4 and all(len(t) <= 12 for t in out)
