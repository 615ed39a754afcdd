"""Re-rankers (MMR, calibration) against brute-force greedy loops; explanations that add up to the score."""
from __future__ import annotations

import numpy as np
import pytest

from reclab.data import leave_last_out, make_synthetic
from reclab.explain import item_terms, leave_one_out
from reclab.models import EASE, ItemKNN, MarkovChain, Popularity
from reclab.metrics import diversity
from reclab.rerank import calibrate, calibration_error, genre_distribution, mmr


def random_case(seed, n_users=4, n_items=12, d=3):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_users, n_items))
    scores[rng.random((n_users, n_items)) < 0.2] = -np.inf  # seen items
    vectors = rng.random((n_items, d))
    genres = (rng.random((n_items, 4)) < 0.4).astype(float)
    genres[genres.sum(axis=1) == 0, 0] = 1.0
    target = rng.random((n_users, 4))
    return scores, vectors, genres, target / target.sum(axis=1, keepdims=True)


def brute_candidates(row, n):
    finite = [i for i in range(len(row)) if np.isfinite(row[i])]
    finite.sort(key=lambda i: (-row[i], i))
    items = finite[:n]
    lo, hi = min(row[i] for i in items), max(row[i] for i in items)
    return items, {i: (row[i] - lo) / (hi - lo) if hi > lo else 1.0 for i in items}


def greedy(items, gain, k):
    """Pick, k times, the unpicked item with the largest gain(picked, item); the first of equal gains."""
    picked = []
    while len(picked) < min(k, len(items)):
        best, best_gain = None, -np.inf
        for i in (i for i in items if i not in picked):
            value = gain(picked, i)
            if value > best_gain + 1e-12:
                best, best_gain = i, value
        picked.append(best)
    return picked


def brute_mmr(row, vectors, lam, k, n):
    items, rel = brute_candidates(row, n)
    cos = lambda a, b: float(vectors[a] @ vectors[b] / (np.linalg.norm(vectors[a]) * np.linalg.norm(vectors[b])))  # noqa: E731
    return greedy(items, lambda picked, i: lam * rel[i] - (1 - lam) * max((cos(i, j) for j in picked), default=0.0), k)


def brute_calibrate(row, genres, p, lam, k, n, alpha=0.01):
    items, rel = brute_candidates(row, n)
    dist = genres / genres.sum(axis=1, keepdims=True)

    def gain(picked, i):
        chosen = picked + [i]
        q = (1 - alpha) * np.mean([dist[j] for j in chosen], axis=0) + alpha * p
        kl = sum(p[g] * np.log(p[g] / q[g]) for g in range(len(p)) if p[g] > 0)
        return (1 - lam) * sum(rel[j] for j in chosen) - lam * kl

    return greedy(items, gain, k)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7, 1.0])
def test_mmr_matches_a_brute_force_greedy_loop(seed, lam):
    scores, vectors, _, _ = random_case(seed)
    got = mmr(scores, vectors, lam, k=5, n_candidates=8)
    for u, row in enumerate(scores):
        assert got[u].tolist() == brute_mmr(row, vectors, lam, 5, 8)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9, 1.0])
def test_calibrate_matches_a_brute_force_greedy_loop(seed, lam):
    scores, _, genres, target = random_case(seed)
    got = calibrate(scores, genres, target, lam, k=5, n_candidates=8)
    for u, row in enumerate(scores):
        assert got[u].tolist() == brute_calibrate(row, genres, target[u], lam, 5, 8)


def test_neutral_settings_return_the_models_own_top_k():
    data = make_synthetic(n_users=40, n_items=30, seed=2)
    split = leave_last_out(data)
    model = EASE(reg=5.0).fit(split.train)
    users = np.arange(split.train.n_users)
    scores = model.score(users)
    scores[split.train.binary().nonzero()] = -np.inf
    own, _ = model.recommend(users, k=10)
    genres = np.eye(5)[np.arange(30) % 5]
    target = np.full((len(users), 5), 0.2)
    np.testing.assert_array_equal(mmr(scores, genres, 1.0, k=10, n_candidates=20), own)
    np.testing.assert_array_equal(calibrate(scores, genres, target, 0.0, k=10, n_candidates=20), own)


def test_the_knobs_move_their_metric_the_right_way():
    scores, vectors, genres, target = random_case(5, n_users=30, n_items=40)
    plain = mmr(scores, vectors, 1.0, k=6, n_candidates=20)
    diverse = mmr(scores, vectors, 0.2, k=6, n_candidates=20)
    assert diversity(diverse, vectors).mean() > diversity(plain, vectors).mean()
    calibrated = calibrate(scores, genres, target, 0.9, k=6, n_candidates=20)
    assert calibration_error(calibrated, genres, target).mean() < calibration_error(plain, genres, target).mean()


def test_calibration_error_on_worked_examples():
    genres = np.array([[1, 0], [0, 1], [1, 1]])
    np.testing.assert_allclose(genre_distribution(genres), [[1, 0], [0, 1], [0.5, 0.5]])
    assert calibration_error([[0, 1]], genres, [[0.5, 0.5]])[0] == pytest.approx(0.0, abs=1e-12)
    q = 0.99 * 1.0 + 0.01 * 0.5  # list all genre 0, target half and half: q̃ = (0.995, 0.005)
    want = 0.5 * np.log(0.5 / q) + 0.5 * np.log(0.5 / (1 - q))
    assert calibration_error([[0]], genres, [[1, 1]])[0] == pytest.approx(want)


@pytest.mark.parametrize("call, message", [
    (lambda s, v, g, t: mmr(s, v, 1.5), "lam=1.5"),
    (lambda s, v, g, t: mmr(s, v, 0.5, k=5, n_candidates=3), "n_candidates=3 is below k=5"),
    (lambda s, v, g, t: mmr(s, v[:5], 0.5, k=2, n_candidates=4), "item_vectors has 5 rows"),
    (lambda s, v, g, t: calibrate(s, g, t[:2], 0.5, k=2, n_candidates=4), "target has shape"),
    (lambda s, v, g, t: calibrate(s, -g, t, 0.5, k=2, n_candidates=4), "non-negative"),
    (lambda s, v, g, t: mmr(s, v, 0.5, k=2, n_candidates=99), "exceeds the 12 items"),
])
def test_bad_input_names_the_argument(call, message):
    scores, vectors, genres, target = random_case(0)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call(scores, vectors, genres, target)


# ------------------------------------------------------------------------------ explanations
@pytest.fixture(scope="module")
def split():
    data = make_synthetic(n_users=60, n_items=25, seed=9)
    return leave_last_out(data.with_ratings(data.ratings.drop_duplicates(["user", "item"])))


@pytest.mark.parametrize("make", [lambda: EASE(reg=3.0), lambda: ItemKNN(k_neighbours=5, feedback="rating"),
                                  lambda: ItemKNN(similarity="cosine")])
def test_terms_add_up_to_the_score_for_train_and_a_later_history(split, make):
    model = make().fit(split.train)
    for history in (None, split.history("test")):
        scores = model.score(np.arange(10), history=history)
        for user in range(10):
            for item in (0, 7, 24):
                terms = item_terms(model, user, item, history=history)
                assert terms["term"].sum() == pytest.approx(scores[user, item], abs=1e-5)
                assert list(terms["term"]) == sorted(terms["term"], reverse=True)


def test_ease_terms_are_history_times_the_closed_form_weights(split):
    X = split.train.to_csr("binary").toarray()
    P = np.linalg.inv(X.T @ X + 3.0 * np.eye(X.shape[1]))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    terms = item_terms(EASE(reg=3.0).fit(split.train), 4, 11).set_index("item")["term"]
    assert sorted(terms.index) == list(np.flatnonzero(X[4]))
    for j, term in terms.items():
        assert term == pytest.approx(B[j, 11], abs=1e-5)


def test_leave_one_out_of_a_linear_model_drops_exactly_the_term(split):
    model = EASE(reg=3.0).fit(split.train)
    terms = item_terms(model, 2, 5).set_index("item")["term"]
    drops = leave_one_out(model, 2, 5).set_index("item")["drop"]
    assert sorted(drops.index) == sorted(terms.index)
    for j in terms.index:
        assert drops[j] == pytest.approx(terms[j], abs=1e-5)


def test_leave_one_out_of_a_markov_chain_moves_only_for_the_last_item(split):
    model = MarkovChain().fit(split.train)
    last = split.train.sequences()[3][-1]
    item = int(np.argmax(model.score([3])[0]))
    drops = leave_one_out(model, 3, item).set_index("item")["drop"]
    assert drops[last] != 0
    assert (drops.drop(last) == 0).all()  # a first-order chain reads the last item only


def test_explanations_refuse_what_they_cannot_explain(split):
    with pytest.raises(ValueError, match="normalize=False"):
        item_terms(ItemKNN(normalize=True).fit(split.train), 0, 0)
    with pytest.raises(ValueError, match="use leave_one_out"):
        item_terms(Popularity().fit(split.train), 0, 0)
    with pytest.raises(ValueError, match="item=99"):
        leave_one_out(EASE().fit(split.train), 0, 99)


def test_attention_agreement_against_its_definition(split):
    import torch

    from reclab.explain import attention_agreement
    from reclab.models import SASRec

    torch.set_num_threads(1)
    model = SASRec(n_factors=16, n_blocks=1, max_len=6, n_epochs=3, device="cpu").fit(split.train)
    table = attention_agreement(model, [0, 1, 2]).set_index("user")
    ratings = split.train.ratings
    for user in (0, 1, 2):
        items, maps = model.attention_maps(user)
        row = maps[-1].mean(axis=0)[-1]
        assert table.loc[user, "most_attended"] == items[np.argmax(row)]
        scores = model.score([user])[0]
        scores[split.train.binary()[user].indices] = -np.inf
        top = int(np.argmax(scores))
        assert table.loc[user, "recommended"] == top
        drops = {}
        for j in items:  # only the items the model reads (the last max_len)
            reduced = split.train.with_ratings(ratings[~((ratings["user"] == user) & (ratings["item"] == j))])
            drops[int(j)] = model.score([user])[0, top] - model.score([user], history=reduced)[0, top]
        assert table.loc[user, "most_influential"] == max(drops, key=drops.get)
        assert table.loc[user, "agree"] == (table.loc[user, "attention_rank"] == 1)
    with pytest.raises(ValueError, match="no attention_maps"):
        attention_agreement(EASE().fit(split.train), [0])
