"""Seq2seq with attention: masks, decoding (beam 1 = greedy, sorted beams, scores = log p), training,
load-or-train; and the translation metrics against sacrebleu."""
import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from gan_course.data.vocab import BOS_ID, EOS_ID, PAD_ID, pad_batch
from gan_course.metrics import translation as T
from gan_course.translation import seq2seq as S


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


def _model(attention="general", seed=0, V=12):
    torch.manual_seed(seed)
    return S.Seq2Seq(S.Seq2SeqConfig(src_vocab=V, tgt_vocab=V, emb=16, hidden=24, attention=attention)).eval()


def _src():
    src, src_len = pad_batch([[4, 5, 6, 7, 8], [9, 4], [5, 6, 7]])
    return src, src_len


@pytest.mark.parametrize("attention", S.ATTENTIONS)
def test_padding_gets_zero_attention_and_changes_nothing(attention):
    m = _model(attention)
    src, src_len = _src()
    tgt_in = torch.tensor([[BOS_ID, 4, 5], [BOS_ID, 6, 7], [BOS_ID, 8, 9]])
    logits, _, w = m(src, src_len, tgt_in, return_attention=True)
    assert w.shape == (3, 3, 5)
    for i, n in enumerate(src_len.tolist()):
        assert (w[i, :, n:] == 0).all()                              # exactly zero on padding
        assert torch.allclose(w[i].sum(-1), torch.ones(3))
    # the second source alone (no padding at all) gives the same logits: padding is invisible
    alone, _ = m(src[1:2, :2], src_len[1:2], tgt_in[1:2])
    assert torch.allclose(alone, logits[1:2], atol=1e-5)


def test_loss_is_cross_entropy_ignoring_padding():
    m = _model()
    src, src_len = _src()
    tgt_in = torch.tensor([[BOS_ID, 4, 5], [BOS_ID, 6, PAD_ID], [BOS_ID, 8, 9]])
    tgt_out = torch.tensor([[4, 5, EOS_ID], [6, EOS_ID, PAD_ID], [8, 9, EOS_ID]])
    logits, loss = m(src, src_len, tgt_in, tgt_out)
    keep = tgt_out != PAD_ID
    manual = -torch.log_softmax(logits, -1).gather(2, tgt_out[..., None]).squeeze(2)[keep].mean()
    assert torch.allclose(loss, manual, atol=1e-6)
    assert torch.allclose(-m.sequence_log_prob(src, src_len, tgt_in, tgt_out).sum() / keep.sum(), manual, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_one_equals_greedy(seed):
    m = _model(seed=seed)
    src, src_len = _src()
    g = m.greedy(src, src_len, max_len=8)
    b = m.beam(src, src_len, beam=1, max_len=8)
    for i in range(3):
        assert b[i][0].tokens == g.tokens[i]
        assert abs(b[i][0].score - g.scores[i].item()) < 1e-4
        assert torch.allclose(b[i][0].attention, g.attention[i], atol=1e-6)


def _seq_logp(m, src, src_len, tokens):
    tgt_in, _ = pad_batch([[BOS_ID] + t for t in tokens])
    tgt_out, _ = pad_batch([t + [EOS_ID] for t in tokens])
    return m.sequence_log_prob(src, src_len, tgt_in, tgt_out)


def test_beam_hypotheses_sorted_and_scored_by_log_prob():
    m = _model(seed=3)
    src, src_len = _src()
    hyps = m.beam(src, src_len, beam=4, max_len=10)
    for i, hs in enumerate(hyps):
        assert len(hs) == 4
        scores = [h.score for h in hs]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hs}) == 4                 # distinct hypotheses
        finished = [h for h in hs if len(h.tokens) < 10]
        if finished:
            lp = _seq_logp(m, src[i:i + 1].expand(len(finished), -1), src_len[i:i + 1].expand(len(finished)),
                           [h.tokens for h in finished])
            assert torch.allclose(lp, torch.tensor([h.log_prob for h in finished]), atol=1e-4)
    # the greedy score is a lower bound for the best of a wider beam on these sources
    g = m.greedy(src, src_len, max_len=10)
    assert all(hs[0].score >= g.scores[i].item() - 1e-4 for i, hs in enumerate(hyps))
    lp = m.beam(src, src_len, beam=4, max_len=10, length_penalty=1.0)
    assert all([h.score for h in hs] == sorted([h.score for h in hs], reverse=True) for hs in lp)


@pytest.mark.parametrize("bucket", [0, 4])
def test_training_learns_to_reverse(bucket):
    """A tiny model learns to reverse sequences: attention has to look at the far end of the source.
    With length buckets (batches of similar lengths) it learns it as well."""
    from gan_course.data.parallel import Pair
    from gan_course.data.vocab import Vocab

    g = torch.Generator().manual_seed(0)
    vocab = Vocab([str(i) for i in range(6)])
    pairs = []
    for _ in range(2000):
        n = int(torch.randint(2, 6, (1,), generator=g))
        s = [str(int(x)) for x in torch.randint(0, 6, (n,), generator=g)]
        pairs.append(Pair(s, s[::-1]))
    torch.manual_seed(0)
    m = S.Seq2Seq(S.Seq2SeqConfig(len(vocab), len(vocab), emb=16, hidden=48, dropout=0.0))
    hist = S.train_mle(m, pairs, vocab, vocab, steps=300, batch_size=64, lr=1e-2, bucket=bucket)
    assert hist["loss"][-1][1] < 0.1
    test = [["1", "2", "3"], ["5", "0", "4", "4"]]
    assert S.translate(m, test, vocab, vocab) == [t[::-1] for t in test]
    assert S.translate(m, test, vocab, vocab, beam=3) == [t[::-1] for t in test]


def test_sampling_and_bad_inputs():
    m = _model()
    src, src_len = _src()
    out = m.sample(src, src_len, max_len=6, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert len(out.tokens) == 3 and all(len(t) <= 6 for t in out.tokens)
    with pytest.raises(ValueError, match="temperature"):
        m.sample(src, src_len, temperature=0)
    with pytest.raises(ValueError, match="beam"):
        m.beam(src, src_len, beam=0)
    with pytest.raises(ValueError, match="attention"):
        S.Seq2SeqConfig(10, 10, attention="dot-product")
    with pytest.raises(ValueError, match="hidden"):
        S.Seq2SeqConfig(10, 10, hidden=0)
    with pytest.raises(ValueError, match="src_len"):
        m(src, src_len[:2], src)


def test_number_translator_load_or_train(tmp_path):
    r = S.NumberRecipe(n_train=300, n_valid=20, n_test=30, steps=3, hidden=16, emb=8)
    m1, corpus, info1 = S.number_translator(r, checkpoint_dir=tmp_path, verbose=False)
    assert not info1["loaded"] and len(info1["history"]) == 3
    m2, _, info2 = S.number_translator(r, checkpoint_dir=tmp_path, verbose=False)
    assert info2["loaded"]
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    _, _, info3 = S.number_translator(S.NumberRecipe(**{**r.__dict__, "lr": 1e-3}), checkpoint_dir=tmp_path,
                                      verbose=False)
    assert not info3["loaded"]                                   # another recipe: trained afresh


# ----------------------------------------------------------------------------- metrics

HYPS = ["the cat sat on the mat", "a dog ran", "quatre-vingt-dix mille"]
REFS = ["the cat sat on a mat", "a dog ran away", "quatre-vingt-dix mille"]


def test_bleu_and_chrf_equal_sacrebleu():
    assert T.bleu(HYPS, REFS) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    assert T.bleu(HYPS, REFS, tokenize="none") == pytest.approx(
        sacrebleu.corpus_bleu(HYPS, [REFS], tokenize="none").score)
    assert T.chrf(HYPS, REFS) == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    two = [[r, "x y z"] for r in REFS]
    assert T.bleu(HYPS, two) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS, ["x y z"] * 3]).score)
    assert T.bleu(HYPS, HYPS) == pytest.approx(100.0)


def test_exact_match_and_error_rates():
    assert T.exact_match(HYPS, REFS) == pytest.approx(1 / 3)
    assert T.exact_match([["R", "IY", "D"]], [[["R", "EH", "D"], ["R", "IY", "D"]]]) == 1.0
    assert T.g2p_wer([["R", "EH", "D"], ["K"]], [[["R", "IY", "D"]], [["K"]]]) == 0.5
    assert T.edit_distance("kitten", "sitting") == 3
    assert T.token_error_rate([["a", "b", "c"]], [["a", "x", "c", "d"]]) == pytest.approx(2 / 4)
    assert T.token_error_rate([["R", "IY", "D"]], [[["R", "EH", "D"], ["R", "IY", "D"]]]) == 0.0


def test_metric_bad_inputs():
    with pytest.raises(ValueError, match="references has 1 items but there are 2"):
        T.bleu(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="strings"):
        T.bleu([["a"]], ["a"])
    with pytest.raises(ValueError, match="empty"):
        T.exact_match([], [])
    with pytest.raises(TypeError, match="token lists"):
        T.token_error_rate(["a b"], [["a", "b"]])


@pytest.mark.parametrize("steps", [1, 2, 10, 11])
def test_train_mle_short_runs(steps):
    """Any positive number of steps trains (torch's OneCycleLR divides by zero at 10 steps unless nudged)."""
    from gan_course.data.parallel import Pair
    from gan_course.data.vocab import Vocab

    vocab = Vocab([str(i) for i in range(6)])
    pairs = [Pair(["1", "2"], ["2", "1"]), Pair(["3", "4", "5"], ["5", "4", "3"])] * 8
    torch.manual_seed(0)
    m = S.Seq2Seq(S.Seq2SeqConfig(len(vocab), len(vocab), emb=8, hidden=16, dropout=0.0))
    hist = S.train_mle(m, pairs, vocab, vocab, steps=steps, batch_size=4, lr=1e-2)
    assert len(hist["loss"]) >= 1 and all(torch.isfinite(torch.tensor(v)) for _, v in hist["loss"])
    with pytest.raises(ValueError, match="bucket=-1 is not allowed; allowed"):
        S.train_mle(m, pairs, vocab, vocab, steps=steps, batch_size=4, bucket=-1)
