"""Parallel corpora: number phrases split by number, tokenising round trips, CMUdict G2P, user TSV files."""
import numpy as np
import pytest
import torch

from gan_course.data import parallel as P
from gan_course.data.vocab import BOS_ID, EOS_ID, PAD_ID


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return P.number_corpus("en-fr", n_train=600, n_valid=50, n_test=100, seed=0,
                           cache_dir=tmp_path_factory.mktemp("cache"))


def test_split_is_disjoint_and_seeded():
    a, b = P.split_numbers(seed=3), P.split_numbers(seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    sets = {k: set(v.tolist()) for k, v in a.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["valid"]) and not (sets["valid"] & sets["test"])
    assert sum(len(s) for s in sets.values()) == P.MAX_NUMBER + 1
    assert not np.array_equal(P.split_numbers(seed=4)["test"], a["test"])


def test_corpus_never_trains_on_test_numbers(corpus):
    train = {p.key for p in corpus.train}
    assert not train & {p.key for p in corpus.test}
    assert not train & {p.key for p in corpus.valid}
    assert len(corpus.train) == 600 and len(corpus.test) == 100
    assert max(p.key for p in corpus.train + corpus.test) <= P.MAX_NUMBER


def test_digits_sampling_mixes_small_and_large():
    pool = P.split_numbers(0)["train"]
    x = P.sample_numbers(pool, 3000, np.random.default_rng(0), "digits")
    assert len(set(x.tolist())) == 3000
    digits = np.array([len(str(v)) for v in x])
    assert (digits <= 3).sum() >= 500                   # every small number the pool holds (about 900)
    assert all((digits == d).sum() > 500 for d in (4, 5, 6))
    assert x.max() > 900_000
    with pytest.raises(ValueError, match="sampling"):
        P.sample_numbers(pool, 10, np.random.default_rng(0), "zipf")


def test_tokenize_round_trips_in_every_language():
    rng = np.random.default_rng(1)
    numbers = [0, 1, 17, 21, 71, 80, 91, 99, 100, 101, 200, 1000, 80000, 200000, 999_999] + \
        rng.integers(0, P.MAX_NUMBER + 1, 150).tolist()
    for lang in P.LANGUAGES:
        for n in numbers:
            text = P.number_phrase(n, lang)
            tokens = P.tokenize(text, lang)
            assert P.detokenize(tokens) == text, (lang, n, tokens)
            if lang == "de":   # the compound is cut into known pieces, never left whole
                assert all(t.removeprefix("##") in P._DE_PIECES for t in tokens), tokens


def test_tokenize_examples():
    assert P.tokenize("quatre-vingt-dix-sept mille", "fr") == ["quatre", "-vingt", "-dix", "-sept", "mille"]
    assert P.tokenize("einundzwanzig", "de") == ["ein", "##und", "##zwanzig"]
    assert P.tokenize("twenty-one thousand, two", "en") == ["twenty", "-one", "thousand", ",", "two"]


def test_bad_pairs_numbers_and_languages():
    with pytest.raises(ValueError, match="allowed pairs: .*en-fr.*"):
        P.number_corpus("en-xx")
    with pytest.raises(ValueError, match="allowed pairs"):
        P.check_pair("en-en")
    with pytest.raises(ValueError, match="out of range; supported numbers are 0..999,999"):
        P.number_phrase(1_000_000, "en")
    with pytest.raises(ValueError, match="out of range"):
        P.number_pairs([-1], "en-fr")
    with pytest.raises(TypeError, match="integer"):
        P.number_phrase(2.5, "en")
    with pytest.raises(ValueError, match="allowed languages"):
        P.tokenize("one", "xx")
    with pytest.raises(ValueError, match="n_train"):
        P.number_corpus("en-fr", n_train=0)


def test_batch_shapes_and_special_tokens(corpus):
    src, src_len, tgt_in, tgt_out = P.batch(corpus.train[:8], corpus.src_vocab, corpus.tgt_vocab)
    assert src.shape[0] == 8 and tgt_in.shape == tgt_out.shape
    assert (tgt_in[:, 0] == BOS_ID).all()
    for i, p in enumerate(corpus.train[:8]):
        assert src_len[i] == len(p.src)
        assert tgt_out[i, len(p.tgt)] == EOS_ID and (tgt_out[i, len(p.tgt) + 1:] == PAD_ID).all()
        assert corpus.tgt_vocab.decode(tgt_out[i]) == p.tgt
    n = sum(b[0].shape[0] for b in P.batches(corpus.train, corpus.src_vocab, corpus.tgt_vocab, 64,
                                            generator=torch.Generator().manual_seed(0)))
    assert n == len(corpus.train)


def test_cache_is_reused(tmp_path):
    a = P.number_pairs([5, 123_456], "en-de", cache_dir=tmp_path)
    assert (tmp_path / "numbers" / "de.json").is_file()
    b = P.number_pairs([5, 123_456], "en-de", cache_dir=tmp_path)
    assert [x.tgt for x in a] == [x.tgt for x in b]
    (tmp_path / "numbers" / "de.json").write_text("{broken")     # a damaged cache is rebuilt
    assert [x.tgt for x in P.number_pairs([5], "en-de", cache_dir=tmp_path)] == [a[0].tgt]


def test_cmudict_g2p():
    c = P.cmudict_corpus(n_train=2000, n_valid=50, n_test=100, seed=0)
    assert not {p.key for p in c.train} & {p.key for p in c.test}
    p = c.train[0]
    assert "".join(p.src) == p.key and p.tgt in p.refs
    assert all(not any(ch.isdigit() for ch in ph) for q in c.train for ph in q.tgt)   # no stress marks
    assert len(c.tgt_vocab) <= 39 + 4


def test_length_buckets_cover_the_epoch_once_with_less_padding():
    c = P.cmudict_corpus(n_train=3000, n_valid=50, n_test=100, seed=0)
    keys = lambda bs: sorted(tuple(t for t in r.tolist() if t != PAD_ID) for b in bs for r in b[0])   # source rows
    plain = list(P.batches(c.train, c.src_vocab, c.tgt_vocab, 64, generator=torch.Generator().manual_seed(0)))
    bucketed = list(P.batches(c.train, c.src_vocab, c.tgt_vocab, 64, generator=torch.Generator().manual_seed(0),
                              bucket=8))
    assert len(bucketed) == len(plain) and keys(bucketed) == keys(plain)     # the same pairs, each once
    pad = lambda bs: sum((b[3] == 0).sum().item() for b in bs)                  # padded target positions
    assert pad(bucketed) < pad(plain) / 4
    again = list(P.batches(c.train, c.src_vocab, c.tgt_vocab, 64, generator=torch.Generator().manual_seed(0),
                           bucket=8))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(again, bucketed))       # seeded
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="bucket=.* is not allowed; allowed"):
            next(P.batches(c.train, c.src_vocab, c.tgt_vocab, 64, bucket=bad))


def test_tsv_loader_and_errors(tmp_path):
    good = tmp_path / "good.tsv"
    good.write_text("# my corpus\nhello world\tbonjour le monde\n\ncat\tchat\n", encoding="utf-8")
    pairs = P.load_tsv(good)
    assert [p.src for p in pairs] == [["hello", "world"], ["cat"]] and pairs[1].tgt == ["chat"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:2: .*no tab"):
        P.load_tsv(bad)
    two = tmp_path / "two.tsv"
    two.write_text("a\tb\tc\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"two\.tsv:1: .*2 tabs"):
        P.load_tsv(two)
    empty_side = tmp_path / "side.tsv"
    empty_side.write_text("x\ty\n \tz\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"side\.tsv:2: the source side is empty"):
        P.load_tsv(empty_side)
    (tmp_path / "empty.tsv").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="no pairs"):
        P.load_tsv(tmp_path / "empty.tsv")
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        P.load_tsv(tmp_path / "nope.tsv")
