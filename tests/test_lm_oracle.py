"""The language model (shapes, loss, generation, bad inputs) and the SeqGAN oracle / generator
(seeded, N(0,1) weights, sampling, log-probabilities, per-sequence NLLs, its own NLL near its entropy,
and that entropy is a floor of NLL_test but not of NLL_oracle)."""
import math

import pytest
import torch

from gan_course.data.vocab import BOS_ID, EOS_ID, PAD_ID
from gan_course.models import lm as lmm
from gan_course.models.oracle import (Oracle, SeqGenConfig, SeqGenerator, mle_epoch, oracle_data,
                                      sample_logits)


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


def tiny_lm(cell="gru"):
    torch.manual_seed(0)
    return lmm.LanguageModel(lmm.LMConfig(vocab_size=10, emb=8, hidden=16, cell=cell))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_lm_forward_contract(cell):
    m = tiny_lm(cell)
    seqs = [[BOS_ID, 4, 5, 6, EOS_ID], [BOS_ID, 7, EOS_ID]]
    x, y = lmm.lm_batch(seqs)
    assert x.tolist() == [[BOS_ID, 4, 5, 6], [BOS_ID, 7, EOS_ID, PAD_ID]]
    assert y.tolist() == [[4, 5, 6, EOS_ID], [7, EOS_ID, PAD_ID, PAD_ID]]
    logits, loss = m(x)
    assert logits.shape == (2, 4, 10) and loss is None
    logits, loss = m(x, y)
    # the loss is the mean NLL over the 6 real targets, <pad> ignored
    logp = torch.log_softmax(logits, -1)
    manual = -sum(logp[b, t, y[b, t]] for b in range(2) for t in range(4) if y[b, t] != PAD_ID) / 6
    assert loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert lmm.nll_per_token(m, seqs) == pytest.approx(loss.item(), rel=1e-5)
    assert lmm.perplexity(math.log(7.0)) == pytest.approx(7.0)


def test_lm_learns_and_generates():
    m = tiny_lm()
    seqs = [[BOS_ID, 4, 5, 6, EOS_ID]] * 20 + [[BOS_ID, 7, 8, EOS_ID]] * 20
    losses = lmm.fit(m, seqs, steps=150, batch_size=16, lr=2e-2)
    assert losses[-1] < 0.5 * losses[0]
    out = m.generate(50, max_len=6, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (50, 6)
    rows = [r for r in out.tolist()]
    assert all(r[:4] == [4, 5, 6, EOS_ID] or r[:3] == [7, 8, EOS_ID] for r in rows)
    assert all(set(r[r.index(EOS_ID) + 1:]) <= {PAD_ID} for r in rows)   # <pad> after <eos>
    # top_k=1 is greedy: every sample the same
    g = m.generate(5, max_len=6, top_k=1)
    assert (g == g[0]).all()
    # a prefix is continued
    p = m.generate(4, max_len=3, prefix=torch.tensor([BOS_ID, 7]), temperature=0.3)
    assert (p[:, :2] == torch.tensor([8, EOS_ID])).all()
    # the same generator seed gives the same samples
    a = m.generate(8, 6, generator=torch.Generator().manual_seed(1))
    b = m.generate(8, 6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_lm_bad_inputs():
    m = tiny_lm()
    with pytest.raises(ValueError, match="temperature"):
        m.generate(2, 5, temperature=0)
    with pytest.raises(ValueError, match="temperature"):
        m.generate(2, 5, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k.*1..10"):
        m.generate(2, 5, top_k=11)
    with pytest.raises(ValueError, match="top_k"):
        m.generate(2, 5, top_k=0)
    with pytest.raises(ValueError, match="tokens must be ids in 0..9"):
        m(torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match="cell"):
        lmm.LanguageModel(lmm.LMConfig(vocab_size=10, cell="transformer"))
    with pytest.raises(ValueError, match="seqs is empty"):
        next(lmm.batches([], 4))


def test_filter_logits():
    z = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    f = lmm.filter_logits(z, temperature=2.0, top_k=2)
    assert torch.isinf(f[0, [0, 3]]).all() and f[0, 1].item() == 1.5 and f[0, 2].item() == 1.0
    assert torch.equal(lmm.filter_logits(z, 1.0, None), z)


# ---- the oracle and the sequence generator -------------------------------------------------------

SMALL = SeqGenConfig(vocab_size=50, seq_len=8, emb=8, hidden=8, init_std=1.0)


def test_oracle_is_seeded_and_normal():
    a, b, c = Oracle(0), Oracle(0), Oracle(1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.embed.weight, c.embed.weight)
    assert a.config == SeqGenConfig(vocab_size=5000, seq_len=20, emb=32, hidden=32, init_std=1.0)
    w = torch.cat([p.flatten() for n, p in a.named_parameters() if "bias_hh" not in n])
    assert abs(w.mean().item()) < 0.01 and abs(w.std().item() - 1.0) < 0.01   # N(0, 1)
    assert not any(p.requires_grad for p in a.parameters())
    before = torch.random.get_rng_state()
    Oracle(3)
    assert torch.equal(before, torch.random.get_rng_state())   # the caller's random stream is untouched


def test_sample_logits_matches_softmax():
    z = torch.randn(1, 7).repeat(100_000, 1)
    tok, logp = sample_logits(z, 0.7, torch.Generator().manual_seed(0))
    freq = torch.bincount(tok, minlength=7).float() / len(tok)
    assert torch.allclose(freq, torch.softmax(z[0] / 0.7, -1), atol=0.006)
    assert torch.allclose(logp, torch.log_softmax(z / 0.7, -1).gather(1, tok[:, None]).squeeze(1), atol=1e-5)


def test_sampling_and_log_probs_agree():
    o = Oracle(0, SMALL)
    x, logp = o.sample(300, generator=torch.Generator().manual_seed(0), return_log_probs=True, batch_size=128)
    assert x.shape == (300, 8) and x.dtype == torch.long and 0 <= x.min() and x.max() < 50
    assert torch.allclose(logp, o.log_probs(x), atol=1e-4)      # batched sampler == teacher forcing
    assert o.nll(x).item() == pytest.approx(-logp.mean().item(), rel=1e-4)
    assert o.nll(x, batch_size=7).item() == pytest.approx(o.nll(x, batch_size=None).item(), rel=1e-5)
    y = o.sample(300, generator=torch.Generator().manual_seed(0), batch_size=128)
    assert torch.equal(x, y)
    # a prefix is kept and continued
    z = o.sample(300, prefix=x[:, :3], generator=torch.Generator().manual_seed(5))
    assert torch.equal(z[:, :3], x[:, :3]) and not torch.equal(z, x)


def test_oracle_nll_of_own_samples_is_near_its_entropy():
    o = Oracle(0, SMALL)
    mc, exact = o.entropy_rate(4000, generator=torch.Generator().manual_seed(1))
    own = o.nll(o.sample(4000, generator=torch.Generator().manual_seed(2))).item()
    assert abs(mc - exact) < 0.05 and abs(own - exact) < 0.05
    assert exact < math.log(50)   # a peaked oracle: well below uniform


def test_nll_per_sequence_matches_the_formula():
    """-(1/T) sum_t log p(x_t | x_<t) per sequence, at temperature 1 and tau (logits / tau)."""
    o = Oracle(0, SMALL)
    x = o.sample(50, generator=torch.Generator().manual_seed(0))
    per = o.nll_per_sequence(x, batch_size=7)
    assert per.shape == (50,)
    assert per.mean().item() == pytest.approx(o.nll(x).item(), rel=1e-5)
    logits, _ = o(o.inputs_for(x))
    by_hand = -torch.log_softmax(logits / 0.7, -1).gather(-1, x.unsqueeze(-1)).squeeze(-1).mean(1)
    assert torch.allclose(o.nll_per_sequence(x, temperature=0.7), by_hand, atol=1e-5)
    G = SeqGenerator(SeqGenConfig(vocab_size=50, seq_len=8, emb=8, hidden=8))
    assert G.nll_per_sequence(x).mean().item() == pytest.approx(G.nll(x, batch_size=10).item(), rel=1e-5)
    with pytest.raises(ValueError, match="length 5; allowed: the oracle's seq_len=8"):
        o.nll_per_sequence(x[:, :5])
    with pytest.raises(ValueError, match="temperature"):
        o.nll_per_sequence(x, temperature=0.0)


def test_entropy_is_a_floor_of_nll_test_not_of_nll_oracle():
    """The review's W1: the oracle sampled at tau = 0.7 scores below its own entropy rate on NLL_oracle,
    while its NLL_test (the tempered oracle's NLL of real samples) stays above it (cross-entropy >= entropy)."""
    o = Oracle(0, SMALL)
    h = o.entropy_rate(4000, generator=torch.Generator().manual_seed(1))[1]
    real = o.sample(4000, generator=torch.Generator().manual_seed(2))
    cold = o.sample(4000, temperature=0.7, generator=torch.Generator().manual_seed(3))
    assert o.nll(cold).item() < h - 0.1
    assert o.nll_per_sequence(real, temperature=0.7).mean().item() > h + 0.05


def test_full_size_oracle_floor():
    """The benchmark's oracle (V=5000, T=20): its own NLL is near its entropy rate (about 5.9 nats)."""
    o = Oracle(0)
    mc, exact = o.entropy_rate(400, generator=torch.Generator().manual_seed(1), batch_size=100)
    assert abs(mc - exact) < 0.15 and 5.0 < exact < 7.0


def test_generator_mle_learns_the_oracle(tmp_path):
    o = Oracle(0, SMALL)
    train, test = oracle_data(o, 2000, 500, seed=1, cache_dir=tmp_path)
    again = oracle_data(o, 2000, 500, seed=1, cache_dir=tmp_path)
    assert torch.equal(train, again[0]) and len(list(tmp_path.iterdir())) == 1
    torch.manual_seed(0)
    G = SeqGenerator(SeqGenConfig(vocab_size=50, seq_len=8, emb=8, hidden=16))
    start = G.nll(test, batch_size=500).item()
    assert start == pytest.approx(math.log(50), abs=0.05)      # N(0, 0.1) weights: nearly uniform
    opt = torch.optim.Adam(G.parameters(), lr=0.01)
    for _ in range(5):
        mle_epoch(G, opt, train, 64, generator=torch.Generator().manual_seed(0))
    floor = o.entropy_rate(2000, generator=torch.Generator().manual_seed(3))[1]
    assert floor < G.nll(test, batch_size=500).item() < start - 0.5
    x = G.sample(500, generator=torch.Generator().manual_seed(4))
    assert o.nll(x).item() < o.nll(torch.randint(0, 50, (500, 8))).item()


def test_load_mle_baseline(tmp_path):
    from gan_course import checkpoint
    from gan_course.models.oracle import load_mle_baseline

    G = SeqGenerator(SMALL)
    best = SeqGenerator(SMALL)
    path = checkpoint.save(tmp_path / "m.pt", kind="07_mle_oracle", config={"g": vars(SMALL)}, step=3,
                           state={"module/G": G.state_dict(), "module/best": best.state_dict()})
    assert torch.equal(load_mle_baseline(path).head.weight, G.head.weight)
    assert torch.equal(load_mle_baseline(path, "best").head.weight, best.head.weight)
    with pytest.raises(ValueError, match="which"):
        load_mle_baseline(path, "last")
    with pytest.raises(FileNotFoundError):
        load_mle_baseline(tmp_path / "missing.pt")


def test_generator_bad_inputs():
    G = SeqGenerator(SMALL)
    with pytest.raises(ValueError, match="ids in 0..49"):
        G.nll(torch.tensor([[1, 2, 50, 3, 4, 5, 6, 7]]))
    with pytest.raises(ValueError, match="ids in 0..49"):
        G.log_probs(torch.tensor([[-1] * 8]))
    with pytest.raises(TypeError, match="integer ids"):
        G.nll(torch.zeros(2, 8))
    with pytest.raises(ValueError, match="temperature"):
        G.sample(4, temperature=0.0)
    with pytest.raises(ValueError, match="n must be"):
        G.sample(0)
    with pytest.raises(ValueError, match="prefix"):
        G.sample(2, prefix=torch.zeros(3, 2, dtype=torch.long))
