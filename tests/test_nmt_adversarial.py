"""Adversarial NMT: the pair discriminator (shapes, padding, empty translations) and the two steps."""
import copy

import pytest
import torch

from gan_course.translation import nmt_adversarial as A
from gan_course.data import parallel as P
from gan_course.data.vocab import EOS_ID, PAD_ID
from gan_course.translation import seq2seq as S


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    corpus = P.number_corpus("en-fr", n_train=400, n_valid=40, n_test=40, seed=0,
                             cache_dir=tmp_path_factory.mktemp("cache"))
    torch.manual_seed(0)
    G = S.Seq2Seq(S.Seq2SeqConfig(len(corpus.src_vocab), len(corpus.tgt_vocab), emb=16, hidden=32)).eval()
    return corpus, G


def test_discriminator_shapes_padding_and_empty(setup):
    corpus, _ = setup
    torch.manual_seed(0)
    D = A.PairDiscriminator(len(corpus.src_vocab), len(corpus.tgt_vocab), emb=8, channels=8)
    src, _, _, tgt_out = P.batch(corpus.train[:4], corpus.src_vocab, corpus.tgt_vocab)
    y = A.human_tgt(tgt_out)
    assert not (y == EOS_ID).any()
    logits = D(src, y)
    assert logits.shape == (4,)
    padded = D(torch.nn.functional.pad(src, (0, 5)), torch.nn.functional.pad(y, (0, 3)))   # extra padding
    assert torch.allclose(logits, padded, atol=1e-6)
    empty = D(src[:1], torch.full((1, 3), PAD_ID))                                        # no target token
    assert torch.isfinite(empty).all()


def test_samples_to_batch():
    tgt, tgt_in, tgt_out = A.samples_to_batch([[5, 6], []], "cpu")
    assert tgt.tolist() == [[5, 6], [EOS_ID, PAD_ID]]
    assert tgt_in[:, 0].tolist() == [1, 1] and tgt_out.tolist() == [[5, 6, EOS_ID], [EOS_ID, PAD_ID, PAD_ID]]


class ConstantD(torch.nn.Module):
    """A discriminator that gives every translation the same reward."""
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, src, tgt):
        return self.w.expand(src.shape[0])


def test_constant_reward_gives_no_policy_gradient(setup):
    corpus, G = setup
    G = copy.deepcopy(G)
    before = copy.deepcopy(G.state_dict())
    cfg = A.AdversarialConfig(mle_weight=0.0, lr_g=1e-2, max_len=15)
    opt = torch.optim.Adam(G.parameters(), lr=cfg.lr_g)
    batch = P.batch(corpus.train[:16], corpus.src_vocab, corpus.tgt_vocab)
    logs = A.g_step(G, ConstantD(), opt, batch, cfg, torch.Generator().manual_seed(0))
    assert logs["reward"] == pytest.approx(0.5)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())   # advantage 0: nothing moves


def test_discriminator_learns_against_random_translator(setup):
    corpus, G = setup
    torch.manual_seed(0)
    D = A.PairDiscriminator(len(corpus.src_vocab), len(corpus.tgt_vocab), emb=16, channels=16)
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    cfg = A.AdversarialConfig(max_len=15)
    gen = torch.Generator().manual_seed(0)
    for i in range(25):
        idx = torch.randint(len(corpus.train), (32,), generator=gen).tolist()
        A.d_step(D, opt, G, P.batch([corpus.train[j] for j in idx], corpus.src_vocab, corpus.tgt_vocab), cfg, gen)
    assert A.discriminator_accuracy(D, G, corpus.valid, corpus.src_vocab, corpus.tgt_vocab, max_len=15) > 0.8


def test_train_adversarial_and_baseline_run(setup):
    corpus, G = setup
    cfg = A.AdversarialConfig(steps=3, batch_size=8, d_pretrain=2, max_len=15)
    g = copy.deepcopy(G)
    D = A.PairDiscriminator(len(corpus.src_vocab), len(corpus.tgt_vocab), emb=8, channels=8)
    hist = A.train_adversarial(g, D, corpus.train, corpus.src_vocab, corpus.tgt_vocab, cfg)
    assert {"reward", "loss_mle", "d_accuracy", "loss_d"} <= set(hist) and len(hist["reward"]) == 3
    assert len(hist["pretrain_d_accuracy"]) == 2
    h2 = A.train_mle_more(copy.deepcopy(G), corpus.train, corpus.src_vocab, corpus.tgt_vocab, cfg)
    assert len(h2["loss_mle"]) == 3
