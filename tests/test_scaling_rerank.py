"""Notebook 09's tools: parameter counts, the scaling helpers, the reranking cascade, evaluating lists.

References are closed forms (a Transformer block's parameter count), brute force (sorting by
hand, metrics of a handmade list) or `evaluate` on the same ranking.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from reclab import evaluate, evaluate_lists
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import EASE, ALS, Popularity, Rerank, SASRec
from reclab.scaling import LADDER, fit_power_law, flattens_at, n_parameters, share_of_users, train_point


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=60, n_items=40, seed=3))


# ------------------------------------------------------------------------------ parameter counts
@pytest.mark.parametrize("d, blocks", [(8, 1), (16, 2), (12, 3)])
def test_sasrec_parameters_match_the_closed_form(split, d, blocks):
    model = SASRec(n_factors=d, n_blocks=blocks, n_heads=2, max_len=7, n_epochs=1, device="cpu").fit(split.train)
    # per block: two LayerNorms (2d each), qkv (3d² + 3d), output projection (d² + d), feed-forward 2 × (d² + d)
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * (d * d + d)
    embedding = (split.train.n_items + 1) * d + 7 * d  # items (+ padding row) and positions
    counts = n_parameters(model)
    assert counts == {"total": embedding + blocks * block + 2 * d, "embedding": embedding,
                      "non-embedding": blocks * block + 2 * d}


def test_numpy_models_count_their_arrays(split):
    ease = EASE().fit(split.train)
    assert n_parameters(ease) == {"total": 40 * 40, "embedding": 0, "non-embedding": 40 * 40}
    als = ALS(n_factors=5, n_epochs=2).fit(split.train)
    assert n_parameters(als)["embedding"] == (60 + 40) * 5
    with pytest.raises(TypeError, match="not a reclab recommender"):
        n_parameters(object())


def test_ladder_has_sources_and_grows():
    assert LADDER["source"].str.len().min() > 10 and LADDER["parameters"].is_monotonic_increasing
    assert set(LADDER["role"]) <= {"encoder", "ranker", "generator"}


# ------------------------------------------------------------------------------ scaling helpers
def test_power_law_recovers_a_planted_exponent():
    x = np.array([1e3, 1e4, 1e5, 1e6])
    a, b = fit_power_law(x, 0.02 * x ** 0.17)
    assert a == pytest.approx(0.02) and b == pytest.approx(0.17)
    with pytest.raises(ValueError, match="x > 0 and y > 0"):
        fit_power_law([1, 2], [0.1, 0.0])
    with pytest.raises(ValueError, match="one value only"):
        fit_power_law([5, 5], [1, 2])


def test_flattens_at_is_the_smallest_size_inside_the_best_interval():
    table = pd.DataFrame({"parameters": [10, 100, 1000, 10000], "ndcg": [0.05, 0.08, 0.095, 0.10],
                          "ndcg_lo": [0.04, 0.07, 0.085, 0.09]})
    assert flattens_at(table) == 1000  # 0.095 >= 0.09, the best point's lower bound; 0.08 is not


def test_share_of_users_keeps_whole_users_and_ids(split):
    half = share_of_users(split.train, 0.5, seed=1)
    users = np.unique(split.train.ratings["user"])
    kept = np.unique(half.ratings["user"])
    assert len(kept) == round(0.5 * len(users)) and half.n_users == split.train.n_users
    whole = split.train.ratings[split.train.ratings["user"].isin(kept)]
    assert len(half) == len(whole)  # every row of a kept user, none of the others
    assert (np.asarray(half.user_ids) == np.asarray(split.train.user_ids)).all()
    with pytest.raises(ValueError, match=r"share=0 must be in \(0, 1\]"):
        share_of_users(split.train, 0)


def test_train_point_counts_tokens_and_flops(split):
    point = train_point(split, 8, 1, 0.5, n_epochs=3, patience=None, max_len=5)
    train = share_of_users(split.train, 0.5)
    targets = sum(min(len(s) - 1, 5) for s in train.sequences() if len(s))
    assert point.epochs == 3 and point.tokens == 3 * targets
    assert point.flops == pytest.approx(6 * point.tokens * (point.non_embedding + 8 * (split.train.n_items + 1)))
    assert point.ndcg_lo <= point.ndcg <= point.ndcg_hi


# ------------------------------------------------------------------------------ evaluate_lists
def test_evaluate_lists_on_a_handmade_case():
    # 3 users, 9 items; user u: train item u, valid item u + 6, test item u + 3
    ratings = pd.DataFrame({"user_id": [0, 1, 2] * 3, "item_id": [0, 1, 2, 6, 7, 8, 3, 4, 5], "rating": 1.0,
                            "timestamp": [0, 0, 0, 1, 1, 1, 2, 2, 2]})
    data = Interactions.from_frames(ratings)
    split = leave_last_out(data)
    lists = np.array([[0, 3, 1],    # seen item 0 dropped -> 3 first: hit at rank 1
                      [2, 2, 4],    # repeat of 2 dropped -> [2, 4]: hit at rank 2
                      [-1, 1, 0]])  # no hit
    table = evaluate_lists(lists, split, k=2, metrics=("HR", "NDCG", "MRR"), ci=None).set_index("metric")
    assert table.loc["HR", "value"] == pytest.approx(2 / 3)
    assert table.loc["NDCG", "value"] == pytest.approx((1 + 1 / np.log2(3)) / 3)
    assert table.loc["MRR", "value"] == pytest.approx((1 + 1 / 2) / 3)
    kept = evaluate_lists(lists, split, k=1, metrics=("HR",), exclude_seen=False, ci=None)
    assert kept["value"].iloc[0] == 0  # user 0's first place is the seen item 0 now


def test_evaluate_lists_equals_evaluate_on_the_models_own_lists(split):
    model = EASE().fit(split.train)
    items, _ = model.recommend(np.arange(split.train.n_users), 10, history=split.history("test"))
    ours = evaluate_lists({"EASE": items, "Popularity": Popularity().fit(split.train).recommend(
        np.arange(split.train.n_users), 10, history=split.history("test"))[0]}, split, k=(5, 10),
        metrics=("HR", "NDCG"), baseline="Popularity")
    reference = evaluate(model, split, k=(5, 10), metrics=("HR", "NDCG"))
    got = ours[ours["model"] == "EASE"].set_index(["metric", "k"])["value"]
    np.testing.assert_allclose(got.sort_index(), reference.set_index(["metric", "k"])["value"].sort_index())
    assert {"diff", "p_value"} <= set(ours.columns)


def test_evaluate_lists_refuses_bad_lists(split):
    with pytest.raises(ValueError, match="must be an int array"):
        evaluate_lists(np.zeros((3, 10), int), split)
    with pytest.raises(ValueError, match="outside 0..39"):
        evaluate_lists(np.full((60, 10), 40), split)
    with pytest.raises(ValueError, match="ranking metrics only"):
        evaluate_lists(np.zeros((60, 10), int), split, metrics=("Coverage",))


# ------------------------------------------------------------------------------ Rerank
def test_weight_zero_is_the_retriever_and_weight_one_the_rankers_order(split):
    ease, pop = EASE().fit(split.train), Popularity().fit(split.train)
    history = split.history("test")
    users = np.arange(split.train.n_users)
    cands, _ = ease.recommend(users, 12, history=history)
    zero = Rerank(retriever=ease, ranker=pop, n_candidates=12, weight=0.0).fit(split.train)
    np.testing.assert_array_equal(zero.recommend(users, 12, history=history)[0], cands)
    one = Rerank(retriever=ease, ranker=pop, n_candidates=12, weight=1.0).fit(split.train)
    got, _ = one.recommend(users, 12, history=history)
    pop_scores = pop.score(users, history=history)
    for u in users:  # brute force: the candidates sorted by popularity, ties in retrieval order
        expected = sorted(cands[u], key=lambda i: (-pop_scores[u, i], list(cands[u]).index(i)))
        assert list(got[u]) == expected
    # beyond the candidates, the retriever's order continues
    longer, _ = one.recommend(users, 20, history=history)
    np.testing.assert_array_equal(longer[:, 12:], ease.recommend(users, 20, history=history)[0][:, 12:])


def test_rerank_keeps_models_fitted_on_the_same_train(split):
    ease = EASE().fit(split.train)
    fitted_at = ease.train_
    Rerank(retriever=ease, ranker=Popularity(), n_candidates=5).fit(split.train)
    assert ease.train_ is fitted_at
    with pytest.raises(ValueError, match="n_candidates=50 is more than the 40 items"):
        Rerank(retriever=EASE(), ranker=Popularity(), n_candidates=50).fit(split.train)
    with pytest.raises(TypeError, match="ranker must be a reclab recommender"):
        Rerank(retriever=EASE(), ranker="minilm", n_candidates=5).fit(split.train)


def test_torch_count_is_independent_of_the_model_class():
    net = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3))

    class Fake:
        net_ = net

    assert n_parameters(Fake()) == {"total": 40 + 15, "embedding": 40, "non-embedding": 15}


# ------------------------------------------------------------------------------ plots
def test_plot_ladder_draws_one_bar_per_model_and_a_legend_per_role():
    import matplotlib

    matplotlib.use("Agg")
    from reclab.scaling import ladder, plot_ladder

    table = ladder({"SASRec": 171_072})
    ax = plot_ladder(table)
    assert len(ax.patches) == len(table) and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["trained here", "encoder", "ranker", "generator"]


def test_plot_scaling_draws_the_fitted_law():
    import matplotlib

    matplotlib.use("Agg")
    from reclab.scaling import plot_scaling

    x = np.array([1e3, 1e4, 1e5, 1e6])
    table = pd.DataFrame({"parameters": x, "ndcg": 0.01 * x ** 0.1, "depth": [1, 1, 2, 2]}).assign(
        ndcg_lo=lambda t: t["ndcg"] * 0.9, ndcg_hi=lambda t: t["ndcg"] * 1.1)
    ax = plot_scaling(table, fit=True)
    fitted = [line for line in ax.get_lines() if line.get_linestyle() == "--"][0]
    np.testing.assert_allclose(fitted.get_ydata(), 0.01 * fitted.get_xdata() ** 0.1, rtol=1e-9)
    assert "x^0.10" in " ".join(t.get_text() for t in ax.get_legend().get_texts()).replace("parameters", "x")
