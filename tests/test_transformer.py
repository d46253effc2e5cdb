"""The Transformer LM of notebook 06b: the causal-mask property (a future token never changes an earlier
output), KV-cache generation equal to uncached generation, the loss contract, weight tying, the oracle
interface (`TransformerGenerator` as a drop-in `SeqGenerator`), the attention widget headless, and the
bad inputs (heads not dividing the width, a context past the block size, an empty prompt)."""
import math

import matplotlib
import pytest
import torch

from gan_course.data.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab
from gan_course.models import lm as lmm
from gan_course.models.oracle import Oracle, SeqGenConfig, mle_epoch
from gan_course.models.transformer import (TransformerConfig, TransformerGenConfig, TransformerGenerator,
                                           TransformerLM, causal_mask, n_params)

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


def tiny(**kw):
    torch.manual_seed(0)
    cfg = dict(vocab_size=12, block_size=16, width=16, heads=4, layers=2)
    return TransformerLM(TransformerConfig(**{**cfg, **kw})).eval()


def test_causal_mask_shape():
    assert causal_mask(3, 3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    # two cached positions, then two new queries (absolute positions 2 and 3)
    assert causal_mask(2, 4).int().tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


@torch.no_grad()
def test_changing_a_future_token_leaves_earlier_outputs_unchanged():
    m = tiny()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(4, 12, (3, 10), generator=g)
    logits, _, atts = m(x, return_attention=True)
    for t in range(10):
        y = x.clone()
        y[:, t] = (y[:, t] - 4 + 1) % 8 + 4                     # another real token at position t
        logits2, _, atts2 = m(y, return_attention=True)
        assert torch.allclose(logits[:, :t], logits2[:, :t], atol=1e-6, rtol=0), t
        assert not torch.allclose(logits[:, t], logits2[:, t])   # position t itself does see it
        for a, a2 in zip(atts, atts2):
            assert torch.allclose(a[:, :, :t], a2[:, :, :t], atol=1e-6, rtol=0)
    for a in atts:                                               # rows are distributions over keys <= t
        assert torch.allclose(a.sum(-1), torch.ones_like(a.sum(-1)), atol=1e-6)
        assert float(a.triu(diagonal=1).abs().max()) == 0.0


def test_loss_contract_tying_and_start():
    m = tiny()
    seqs = [[BOS_ID, 4, 5, 6, EOS_ID], [BOS_ID, 7, EOS_ID]]
    x, y = lmm.lm_batch(seqs)
    logits, loss = m(x, y)
    logp = torch.log_softmax(logits, -1)
    manual = -sum(logp[b, t, y[b, t]] for b in range(2) for t in range(4) if y[b, t] != PAD_ID) / 6
    assert loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert lmm.nll_per_token(m, seqs) == pytest.approx(loss.item(), rel=1e-5)   # plugs into lm.py's metric
    assert abs(loss.item() - math.log(12)) < 0.15                 # GPT-2 init: near uniform at the start
    assert m.head.weight is m.tok.weight                          # tied: one matrix, counted once
    untied = tiny(tie_weights=False)
    assert n_params(untied) - n_params(m) == 12 * 16


def test_kv_cache_logits_equal_full_forward():
    m = tiny()
    x = torch.randint(4, 12, (2, 9), generator=torch.Generator().manual_seed(2))
    full, _ = m(x)
    logits, _, cache = m(x[:, :4], return_cache=True)             # a prefix of 4, then one token at a time
    steps = [logits]
    for t in range(4, 9):
        logits, _, cache = m(x[:, t:t + 1], cache=cache, return_cache=True)
        steps.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


@pytest.mark.parametrize("top_k", [None, 1, 3])
def test_cached_generation_gives_the_same_tokens(top_k):
    m = tiny()
    prefix = torch.tensor([BOS_ID, 5, 6])
    for kw in ({}, {"prefix": prefix}):
        a = m.generate(8, 12, top_k=top_k, generator=torch.Generator().manual_seed(3), use_cache=True, **kw)
        b = m.generate(8, 12, top_k=top_k, generator=torch.Generator().manual_seed(3), use_cache=False, **kw)
        assert a.shape == (8, 12) and torch.equal(a, b)


def test_it_learns():
    m = tiny().train()
    seqs = [[BOS_ID, 4, 5, 6, 7, 8, EOS_ID], [BOS_ID, 9, 10, 11, EOS_ID]] * 8
    losses = lmm.fit(m, seqs, steps=150, batch_size=16, lr=1e-2)
    assert losses[-1] < 0.4 * losses[0]
    out = m.generate(4, 7, top_k=1, prefix=torch.tensor([BOS_ID, 4]))
    assert out[0].tolist() == [5, 6, 7, 8, EOS_ID, PAD_ID, PAD_ID]


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match=r"heads=5 is not allowed; allowed: a divisor of width=16 "
                                         r"\(1, 2, 4, 8, 16\)"):
        TransformerConfig(vocab_size=12, width=16, heads=5)
    with pytest.raises(ValueError, match=r"TransformerConfig.width=0 is not allowed"):
        TransformerConfig(vocab_size=12, width=0)
    m = tiny()
    with pytest.raises(ValueError, match=r"context length=17 .* allowed: 1..block_size=16"):
        m(torch.full((1, 17), 4))
    _, _, cache = m(torch.full((1, 10), 4), return_cache=True)
    with pytest.raises(ValueError, match=r"context length=17 \(10 cached \+ 7 new"):
        m(torch.full((1, 7), 4), cache=cache)
    with pytest.raises(ValueError, match=r"prefix is empty"):
        m.generate(1, 5, prefix=torch.tensor([], dtype=torch.long))
    with pytest.raises(ValueError, match=r"max_len=17 is not allowed; allowed: 1..16"):
        m.generate(1, 17)
    with pytest.raises(ValueError, match=r"max_len=15 is not allowed; allowed: 1..14"):
        m.generate(1, 15, prefix=torch.tensor([BOS_ID, 4, 5]))
    m.generate(1, 14, prefix=torch.tensor([BOS_ID, 4, 5]))        # the longest allowed fits
    with pytest.raises(ValueError, match=r"must begin with <bos>"):
        m.generate(1, 5, prefix=torch.tensor([4, 5]))
    with pytest.raises(ValueError, match=r"tokens must be ids in 0..11"):
        m(torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match=r"temperature"):
        m.generate(1, 5, temperature=0.0)


def test_transformer_generator_swaps_in_for_the_lstm():
    oracle = Oracle(seed=0, config=SeqGenConfig(vocab_size=30, seq_len=8, init_std=1.0))
    data = oracle.sample(256, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    G = TransformerGenerator(TransformerGenConfig(vocab_size=30, seq_len=8, width=16, heads=2, layers=1))
    before = G.nll(data, batch_size=100).item()
    assert abs(before - math.log(30)) < 0.05
    opt = torch.optim.Adam(G.parameters(), lr=1e-2)
    for _ in range(5):
        mle_epoch(G, opt, data, batch_size=32, generator=torch.Generator().manual_seed(0))
    assert G.nll(data, batch_size=100).item() < before - 0.3
    # the inherited sampler carries the KV cache as its state: the log-probabilities it returns are
    # those of teacher forcing on its own samples
    x, logp = G.sample(50, generator=torch.Generator().manual_seed(4), return_log_probs=True)
    assert x.shape == (50, 8)
    assert torch.allclose(logp, G.log_probs(x), atol=1e-5)
    y, logp2 = G.sample(50, generator=torch.Generator().manual_seed(4), prefix=x[:, :3], return_log_probs=True)
    assert torch.equal(y[:, :3], x[:, :3]) and torch.allclose(logp2, G.log_probs(y), atol=1e-5)
    with pytest.raises(ValueError, match="start_token=30 is not allowed"):
        TransformerGenConfig(vocab_size=30, start_token=30)


def test_attention_widget_headless():
    from gan_course.widgets.attention import attention_explorer, attention_of, encode_line

    vocab = Vocab(list("abc "))
    m = tiny(vocab_size=len(vocab), block_size=8)
    fig = attention_explorer(m, vocab, default="ab c", headless=True)
    assert len(fig.axes) == 2
    atts, probs = attention_of(m, encode_line("ab c", vocab, 8))
    assert len(atts) == 2 and atts[0].shape == (4, 5, 5) and probs.shape == (len(vocab),)
    for bad, msg in (("", "empty prompt"), ("abcabcab", "at most block_size - 1 = 7"), ("abz", "'z'")):
        with pytest.raises(ValueError, match=msg):
            encode_line(bad, vocab, 8)
        fig = attention_explorer(m, vocab, default=bad, headless=True)   # a message, not a traceback
        assert msg.strip("'") in fig.axes[0].texts[0].get_text()
