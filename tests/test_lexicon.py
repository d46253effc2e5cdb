"""Lexicon induction (MUSE) and the word vectors: Procrustes, CSLS, the adversary's step, bad input."""
import numpy as np
import pytest
import torch

from gan_course.translation import embeddings as E
from gan_course.translation import lexicon as L

pytestmark = pytest.mark.usefixtures("one_thread")


def test_procrustes_recovers_a_known_orthogonal_map():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    A = rng.normal(size=(20, 6))
    W = L.procrustes(A, A @ Q.T)                              # b_i = Q a_i exactly
    assert np.allclose(W, Q, atol=1e-10)
    assert np.allclose(W @ W.T, np.eye(6), atol=1e-10)
    with pytest.raises(ValueError, match="dictionary size"):
        L.procrustes(np.zeros((0, 6)), np.zeros((0, 6)))      # a dictionary of 0 pairs


def test_csls_equals_its_formula_on_a_hand_made_example():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    Y = np.array([[1.0, 0.1], [0.2, 1.0]])
    S = L.similarity(X, Y, "cosine")
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert np.isclose(S[2, 1], cos(X[2], Y[1]))
    k = 1
    r_t = S.max(1)                                            # k = 1: the best target of each source
    r_s = S.max(0)
    expected = 2 * S - r_t[:, None] - r_s[None, :]
    assert np.allclose(L.csls(X, Y, k=1), expected)
    # k = 2 by hand for one entry: r_T(x_0) = mean of its two similarities, r_S(y_0) = mean of the best two
    C = L.csls(X, Y, k=2)
    r_t0 = (S[0, 0] + S[0, 1]) / 2
    r_s0 = np.sort(S[:, 0])[-2:].mean()
    assert np.isclose(C[0, 0], 2 * S[0, 0] - r_t0 - r_s0)
    # euclidean similarity is cos - 1 on unit vectors
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    V = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    assert np.allclose(L.similarity(U, V, "euclidean"), L.similarity(U, V, "cosine") - 1)
    with pytest.raises(ValueError, match="k=5"):
        L.csls(X, Y, k=5)
    with pytest.raises(ValueError, match="metric"):
        L.csls(X, Y, metric="manhattan")


def test_adversary_step_changes_W_and_keeps_it_near_orthogonal():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 5)), rng.normal(size=(25, 5)) + 1.0
    gan = L.LexiconGAN(X, Y, L.LexiconConfig(steps=1, batch_size=16, beta=0.1), seed=0)
    W0 = gan.W
    assert np.allclose(W0 @ W0.T, np.eye(5), atol=1e-5)       # starts as a rotation
    for _ in range(20):
        logs = gan.step()
    W1 = gan.W
    assert np.isfinite(logs["loss_d"]) and np.isfinite(logs["loss_w"])
    assert np.abs(W1 - W0).max() > 1e-4                       # the generator moved
    assert np.abs(W1 @ W1.T - np.eye(5)).max() < 0.1          # and stayed near-orthogonal,
    free = L.LexiconGAN(X, Y, L.LexiconConfig(steps=1, batch_size=16, beta=0.0), seed=0)
    for _ in range(20):
        free.step()                                           # unlike the same game without the pull-back
    err = lambda W: np.abs(W @ W.T - np.eye(5)).max()
    assert err(W1) < err(free.W)
    many = L.LexiconGAN(X, Y, L.LexiconConfig(steps=1, batch_size=16), seed=0, games=3)
    many.step()
    assert many.maps().shape == (3, 5, 5)                     # restarts side by side


def test_orthogonalize_is_a_step_towards_orthogonal():
    rng = np.random.default_rng(2)
    W = np.eye(4) + 0.1 * rng.normal(size=(4, 4))
    err = lambda M: np.linalg.norm(M.T @ M - np.eye(4))
    assert err(L.orthogonalize(W, 0.1)) < err(W)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    assert np.allclose(L.orthogonalize(Q, 0.1), Q)            # orthogonal matrices are fixed points
    with pytest.raises(ValueError, match="beta"):
        L.orthogonalize(W, -1.0)


def test_refinement_finds_a_rotated_copy():
    """Two clouds that differ by a rotation and a little noise: the mutual-NN + Procrustes loop from a
    nearby start recovers every word, and induce's criterion prefers the right map."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(15, 4))
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    Y = X @ Q.T + 0.01 * rng.normal(size=(15, 4))
    W0 = L.orthogonalize(Q + 0.2 * rng.normal(size=(4, 4)), 0.0)
    W, pairs, hist = L.refine(W0, X, Y, iterations=3, metric="euclidean")
    assert (L.translate_words(X @ W.T, Y, metric="euclidean") == np.arange(15)).all()
    assert L.criterion(X @ W.T, Y, metric="euclidean") > L.criterion(X, Y, metric="euclidean")


def test_true_lexicon_and_word_by_word():
    lex = L.true_lexicon("en-fr")
    assert lex["seven"] == {"sept"} and lex["-two"] == {"-deux"} and lex["thousand"] == {"mille"}
    assert "seventy" not in lex and "and" not in lex and lex["hundred"] == {"cent", "cents"}
    assert L.precision_at_1({"seven": "sept"}, {"seven": {"sept"}, "two": {"deux"}}) == 0.5
    assert L.word_by_word([["two", "hundred"]], {"two": "deux", "hundred": "cents"}) == [["deux", "cents"]]
    with pytest.raises(ValueError, match="outside the dictionary"):
        L.word_by_word([["two", "thousand"]], {"two": "deux"})
    with pytest.raises(ValueError, match="dico"):
        L.word_by_word([["two"]], {})                         # a dictionary of size 0
    with pytest.raises(ValueError, match="allowed pairs"):
        L.true_lexicon("en-xx")


def test_embeddings_and_bad_corpora():
    text = [["two", "hundred"], ["three", "hundred"], ["two"], ["three", "thousand"]]
    words = ["two", "three", "hundred", "thousand"]
    C = E.cooccurrence(text, words, window=1)
    assert C.shape == (4, 2 * 6)
    # "two" is followed by "hundred" once and by the end of the sentence once (offset +1 block)
    names = words + ["<s>", "</s>"]
    right = C[0].reshape(2, 6)[1]
    assert right[names.index("hundred")] == 1 and right[names.index("</s>")] == 1
    v = E.train_embeddings(text, words, dim=3, window=1)
    assert v.vectors.shape == (4, 3) and np.isfinite(v.vectors).all()
    with pytest.raises(ValueError, match=r"text\[1\]=\[\] is not allowed"):
        E.cooccurrence([["two"], []], words)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        E.cooccurrence([["two", "million"]], words)
    with pytest.raises(ValueError, match="dim=9"):
        E.factorise(C, 9)
    with pytest.raises(ValueError, match="window"):
        E.cooccurrence(text, words, window=0)
    with pytest.raises(ValueError, match="transform"):
        E.factorise(C, 2, "glove")


def test_anchor_features_count_occurrences_openings_and_closings():
    text = [["two", "hundred"], ["three", "hundred"], ["two"], ["three", "thousand"]]
    words = ["two", "three", "hundred", "thousand"]
    A = E.anchor_features(text, words)
    # occurrences, sentence-initial, sentence-final, by hand, as log((count + 1) / 4 sentences)
    counts = np.array([[2, 2, 1], [2, 2, 0], [2, 0, 2], [1, 0, 1]])
    np.testing.assert_allclose(A, np.log((counts + 1) / 4))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        E.anchor_features([["two", "million"]], words)


def test_with_anchors_appends_one_shared_standardisation():
    rng = np.random.default_rng(0)
    text_a = [["a", "b"], ["b"], ["a", "c"]]
    text_b = [["x"], ["y", "x"], ["z", "y", "x"]]
    vecs = {"a": E.WordVectors(["a", "b", "c"], rng.normal(size=(3, 2)), np.ones(3), "a"),
            "b": E.WordVectors(["x", "y", "z"], rng.normal(size=(3, 2)), np.ones(3), "b")}
    out = E.with_anchors(vecs, {"a": text_a, "b": text_b}, weight=2.0)
    feats = np.concatenate([E.anchor_features(text_a, vecs["a"].words), E.anchor_features(text_b, vecs["b"].words)])
    z = (feats - feats.mean(0)) / (feats.std(0) + 1e-12)
    r = np.mean(np.linalg.norm(np.concatenate([vecs["a"].vectors, vecs["b"].vectors]), axis=1))
    got = np.concatenate([out["a"].vectors, out["b"].vectors])
    np.testing.assert_allclose(got[:, :2], np.concatenate([vecs["a"].vectors, vecs["b"].vectors]))
    np.testing.assert_allclose(got[:, 2:], 2.0 * r / np.sqrt(3) * z)
    assert out["a"].words == vecs["a"].words and out["b"].lang == "b"
    # weight 0 leaves the anchor block at zero: the plain vectors' geometry
    assert np.allclose(E.with_anchors(vecs, {"a": text_a, "b": text_b}, 0.0)["a"].vectors[:, 2:], 0)
    with pytest.raises(ValueError, match="same two languages"):
        E.with_anchors(vecs, {"a": text_a}, 1.0)
    with pytest.raises(ValueError, match="weight"):
        E.with_anchors(vecs, {"a": text_a, "b": text_b}, -1.0)
