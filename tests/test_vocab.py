"""Vocab: special tokens, frequency order, round trips, unknown tokens, padding."""
import pytest
import torch

from gan_course.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab, pad_batch


def test_build_and_round_trip(tmp_path):
    seqs = [["the", "cat", "sat"], ["the", "dog"], ["a", "cat"]]
    v = Vocab.build(seqs)
    assert v.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert v.itos[4:6] == ["cat", "the"]  # most frequent first, ties alphabetical
    for s in seqs:
        assert v.decode(v.encode(s, add_bos=True, add_eos=True)) == s
    v.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json").itos == v.itos


def test_unknown_tokens():
    v = Vocab.build([["a", "b"]])
    assert v.encode(["a", "zzz"]) == [v.stoi["a"], UNK_ID]
    with pytest.raises(KeyError, match="outside the vocabulary.*zzz"):
        v.encode(["zzz"], unknown="error")
    with pytest.raises(ValueError, match="unknown='skip'"):
        v.encode(["a"], unknown="skip")
    with pytest.raises(TypeError, match="not a str"):
        v.encode("a b")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.decode([99])


def test_build_limits():
    v = Vocab.build([list("aaabbc")], max_size=6)
    assert v.itos[4:] == ["a", "b"]
    assert Vocab.build([list("aaabbc")], min_count=2).itos[4:] == ["a", "b"]
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build([["a"]], max_size=3)
    with pytest.raises(ValueError, match="empty"):
        Vocab.build([])


def test_pad_batch():
    toks, lens = pad_batch([[5, 6, 7], [8]])
    assert toks.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]] and lens.tolist() == [3, 1]
    toks, lens = pad_batch([[5, 6, 7], [8]], max_len=2)
    assert toks.shape == (2, 2) and lens.tolist() == [2, 1]
    with pytest.raises(ValueError, match="empty"):
        pad_batch([])
    v = Vocab.build([["x"]])
    assert v.decode(torch.tensor([BOS_ID, 4, EOS_ID, 4])) == ["x"]
