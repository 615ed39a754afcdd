"""Generative retrieval over semantic IDs: the residual k-means tokenizer against a hand-solved case
and Lloyd's fixed point, the prefix trie, exact scores and the beam search against brute-force
teacher forcing through the net's training path, learning a planted chain, save/load, bad input."""
import itertools

import numpy as np
import pytest
import torch

from reclab.data import leave_last_out, make_synthetic
from reclab.models.base import NotFittedError
from reclab.models.semantic import PrefixTrie, SemanticIDRec, semantic_ids

TINY = dict(encoder="random", levels=2, codes=3, n_factors=16, max_len=8, n_epochs=3, batch_size=16,
            dropout=0.0, beam=12, device="cpu", patience=None)


def partition(labels):
    """The groups of item indices that share a label (labels are arbitrary names)."""
    return sorted(sorted(np.flatnonzero(labels == v).tolist()) for v in np.unique(labels))


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    data = make_synthetic(n_users=40, n_items=12, n_clusters=2, length=(4, 9), seed=5)
    split = leave_last_out(data)
    return split, SemanticIDRec(**TINY).fit(split.train)


# ------------------------------------------------------------------------------ semantic_ids
def test_semantic_ids_hand_solved_residual_kmeans():
    # level 0: {-11, -9, -9} (mean -29/3) vs {9, 11} (mean 10); residuals -4/3, 2/3, 2/3 | -1, 1;
    # level 1 splits them at the gap: {-4/3, -1} vs {2/3, 2/3, 1}; items 1 and 2 are the same vector
    ids = semantic_ids(np.array([[-11.0], [-9.0], [-9.0], [9.0], [11.0]]), levels=2, codes=2)
    assert ids.shape == (5, 3) and ids.dtype == np.int64
    assert partition(ids[:, 0]) == [[0, 1, 2], [3, 4]]
    assert partition(ids[:, 1]) == [[0, 3], [1, 2, 4]]
    assert ids[:, 2].tolist() == [0, 0, 1, 0, 0]  # item 2 collides with item 1: the extra level tells them apart


def test_semantic_ids_are_unique_and_each_level_is_a_lloyd_fixed_point():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((60, 5))
    vectors[50:] = vectors[:10]  # ten exact duplicates: they must collide
    levels, codes = 2, 4
    ids = semantic_ids(vectors, levels=levels, codes=codes, seed=1)
    assert len({tuple(row) for row in ids}) == 60
    seen, collisions = set(), 0  # brute force: an item whose k-means tuple an earlier item already has
    for row in ids[:, :levels]:
        collisions += tuple(row) in seen
        seen.add(tuple(row))
    assert (ids[:, -1] > 0).sum() == collisions >= 10
    residual = vectors.copy()
    for level in range(levels):  # k-means converged: every residual is nearest to its own centroid
        labels = ids[:, level]
        assert set(labels) == set(range(codes))
        centroids = np.stack([residual[labels == c].mean(axis=0) for c in range(codes)])
        distance = ((residual[:, None, :] - centroids[None]) ** 2).sum(-1)
        assert np.all(distance[np.arange(60), labels] <= distance.min(axis=1) + 1e-9)
        residual = residual - centroids[labels]


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(codes=1), ValueError, "codes=1"),
    (dict(levels=0), ValueError, "levels=0"),
    (dict(levels=2.0), TypeError, "levels=2.0"),
    (dict(codes=True), TypeError, "codes=True"),
    (dict(vectors=np.zeros(4)), ValueError, "2-D"),
    (dict(vectors=np.array([[0.0], [np.nan], [1.0], [2.0]])), ValueError, "item 1"),
    (dict(vectors=[["a"], ["b"]]), TypeError, "numeric"),
    (dict(codes=5), ValueError, "codes=5 is more than the 4 items"),
    # {-11, -9} / {9, 11}, then residuals ±1 split exactly: a third level has nothing left to cluster
    (dict(levels=3), ValueError, "levels=3 is more than these 4 items allow"),
])
def test_semantic_ids_bad_input(kwargs, error, words):
    args = dict(vectors=np.array([[-11.0], [-9.0], [9.0], [11.0]]), levels=2, codes=2) | kwargs
    with pytest.raises(error, match=words):
        semantic_ids(**args)


# ------------------------------------------------------------------------------ the trie
def test_trie_yields_exactly_the_real_items():
    ids = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 0], [2, 2, 0], [0, 2, 0]])
    trie = PrefixTrie(ids, [3, 3, 2])
    found = {}

    def walk(level, node, prefix):
        for code in np.flatnonzero(trie.allowed(level, np.array(node))):
            nxt = int(trie.step(level, np.array(node), np.array(code)))
            if level == 2:
                found[prefix + (int(code),)] = nxt
            else:
                walk(level + 1, nxt, prefix + (int(code),))

    walk(0, 0, ())
    assert found == {tuple(row): i for i, row in enumerate(ids.tolist())}
    assert int(trie.step(0, np.array(0), np.array(1))) >= 0 and int(trie.step(1, trie.step(0, 0, 1), 1)) == -1
    assert not trie.allowed(1, np.array(-1)).any() and int(trie.step(1, np.array(-1), np.array(0))) == -1


# ------------------------------------------------------------------------------ scores and beam search
def brute_force(model, history, users):
    """log P(tuple | history) of every full code tuple, by teacher forcing [BOS, history, tuple]
    through the net's training forward (full causal attention), one sequence at a time."""
    net, L = model.net_, len(model.net_.sizes)
    tuples = list(itertools.product(*[range(s) for s in net.sizes]))
    out = np.zeros((len(users), len(tuples)))
    sequences = history.sequences()
    with torch.no_grad():
        for row, u in enumerate(users):
            past = sequences[u][-model.max_len:]
            context = [1] + [net.offsets[l] + model.ids_[i, l] for i in past for l in range(L)]
            for col, t in enumerate(tuples):
                tokens = torch.tensor([context + [net.offsets[l] + t[l] for l in range(L)]])
                hidden = net(tokens)[0, -L - 1:-1]  # the positions that predict the tuple's codes
                out[row, col] = sum(float(torch.log_softmax(
                    hidden[l] @ net.tok_emb.weight[net.offsets[l]: net.offsets[l] + net.sizes[l]].T, -1)[t[l]])
                    for l in range(L))
    return tuples, out


def test_scores_and_constrained_beam_equal_brute_force(tiny):
    split, model = tiny
    history, users = split.history("test"), np.array([0, 3, 7])
    tuples, reference = brute_force(model, history, users)
    item_col = [tuples.index(tuple(row)) for row in model.ids_.tolist()]
    assert np.allclose(model.score(users, history=history), reference[:, item_col], atol=1e-4)
    # beam = n_items = 12 keeps every prefix of this 3 × 3 × s catalogue: the search is exhaustive
    got = model.generate(users, k=5, history=history)
    want = np.argsort(-reference[:, item_col], axis=1, kind="stable")[:, :5]
    assert np.array_equal(got.items, want) and got.invalid_share == 0.0
    assert np.allclose(got.scores, np.take_along_axis(reference[:, item_col], want, 1), atol=1e-4)


def test_unconstrained_beam_reports_tuples_that_are_no_item(tiny):
    split, model = tiny
    history, users = split.history("test"), np.arange(10)
    tuples, reference = brute_force(model, history, users)
    real = {tuple(row): i for i, row in enumerate(model.ids_.tolist())}
    assert len(tuples) > 12  # 9 k-means cells for 12 items, so the collision level has 2+ codes
    top = np.argsort(-reference, axis=1, kind="stable")[:, :12]
    want = np.vectorize(lambda c: real.get(tuples[c], -1))(top)
    got = model.generate(users, k=12, history=history, constrained=False)
    assert np.array_equal(got.items, want)
    assert got.invalid_share == pytest.approx((want < 0).mean()) and got.invalid_share > 0


def test_empty_history_is_scored_from_bos(tiny):
    split, model = tiny
    empty = split.train.with_ratings(split.train.ratings[split.train.ratings["user"] != 0])
    scores = model.score([0, 1], history=empty)
    assert np.isfinite(scores).all() and not np.allclose(scores[0], scores[1])
    assert np.exp(scores[0]).sum() <= 1 + 1e-5  # a distribution over tuples, part of it on no item


# ------------------------------------------------------------------------------ learning
def test_learns_a_planted_chain():
    torch.set_num_threads(1)
    data = make_synthetic(n_users=150, n_items=30, n_clusters=2, length=(8, 14), p_follow=0.95, noise=0.0, seed=3)
    split = leave_last_out(data)
    model = SemanticIDRec(encoder="tfidf", levels=2, codes=6, n_factors=32, max_len=10, n_epochs=30, patience=5,
                          lr=1e-2, dropout=0.0, batch_size=16, beam=10, device="cpu").fit(split.train, valid=split.valid)
    history = split.history("test")
    successor = data.items["next_item"].to_numpy()
    chain = np.array([successor[s[-1]] for s in history.sequences()])  # the planted next item
    top1 = model.generate(np.arange(150), k=1, history=history).items[:, 0]
    # the chain is followed 95% of the time; popularity would hit it for about 1 user in 15 (15 items a cluster)
    assert (top1 == chain).mean() > 0.8


# ------------------------------------------------------------------------------ persistence and bad input
def test_save_load_round_trip(tiny, tmp_path):
    split, model = tiny
    loaded = SemanticIDRec.load(model.save(tmp_path / "sid.npz"))
    history = split.history("test")
    assert np.array_equal(loaded.ids_, model.ids_) and loaded.n_collisions_ == model.n_collisions_
    assert np.allclose(loaded.score([0, 5], history=history), model.score([0, 5], history=history), atol=1e-6)
    assert np.array_equal(loaded.generate([0, 5], k=3, history=history, constrained=False).items,
                          model.generate([0, 5], k=3, history=history, constrained=False).items)


def test_bad_input(tiny):
    split, model = tiny
    with pytest.raises(ValueError, match="beam=13 is wider than the catalogue of 12 items"):
        SemanticIDRec(**TINY | dict(beam=13)).fit(split.train)
    with pytest.raises(ValueError, match="k=13 must be an int from 1 to 12"):
        model.generate([0], k=13)
    with pytest.raises(ValueError, match="k=5 is more than beam=4"):
        SemanticIDRec(**TINY | dict(beam=4, n_epochs=1)).fit(split.train).generate([0], k=5)
    with pytest.raises(ValueError, match="levels=2 is more than these 12 items allow"):
        SemanticIDRec(**TINY | dict(levels=2, codes=11)).fit(split.train)
    with pytest.raises(ValueError, match="codes=13 is more than the 12 items"):
        SemanticIDRec(**TINY | dict(codes=13)).fit(split.train)
    with pytest.raises(ValueError, match="encoder='bert'"):
        SemanticIDRec(**TINY | dict(encoder="bert")).fit(split.train)
    with pytest.raises(TypeError, match="constrained='yes'"):
        model.generate([0], k=2, constrained="yes")
    with pytest.raises(NotFittedError, match="call fit"):
        SemanticIDRec().generate([0])
