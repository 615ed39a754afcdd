"""evaluate(): checked against a per-user loop written from the definitions."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reclab import compare, evaluate, leaderboard
from reclab.data import leave_last_out, make_synthetic, temporal_split
from reclab.models import Popularity, Random


class Fixed:
    """A 'model' with given scores, to test the evaluator alone (integer scores: many ties)."""

    def __init__(self, scores):
        self.scores = scores

    def score(self, users):
        return self.scores[users]


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=80, n_items=50, seed=4))


def brute_force(scores, split, part, k):
    hist = {}
    for p in ("train", "valid") if part == "test" else ("train",):
        r = getattr(split, p).ratings
        for u, i in zip(r["user"], r["item"]):
            hist.setdefault(u, set()).add(i)
    rel = {}
    r = getattr(split, part).ratings
    for u, i in zip(r["user"], r["item"]):
        if i not in hist.get(u, set()):
            rel.setdefault(u, set()).add(i)
    hr, ndcg, mrr = [], [], []
    for u, items in rel.items():
        ranked = sorted((i for i in range(scores.shape[1]) if i not in hist.get(u, set())),
                        key=lambda i: (-scores[u, i], i))[:k]
        gains = [1.0 if i in items else 0.0 for i in ranked]
        hr.append(float(any(gains)))
        ideal = sum(1 / math.log2(p + 2) for p in range(min(len(items), k)))
        ndcg.append(sum(g / math.log2(p + 2) for p, g in enumerate(gains)) / ideal)
        mrr.append(next((1 / (p + 1) for p, g in enumerate(gains) if g), 0.0))
    return {"HR": np.mean(hr), "NDCG": np.mean(ndcg), "MRR": np.mean(mrr), "n": len(rel)}


@pytest.mark.parametrize("part", ["valid", "test"])
@pytest.mark.parametrize("k", [1, 5, 10])
def test_full_ranking_matches_brute_force(split, part, k):
    scores = np.random.default_rng(k).integers(0, 4, size=(split.train.n_users, split.train.n_items)).astype(float)
    got = evaluate(Fixed(scores), split, k, part=part, metrics=("HR", "NDCG", "MRR"), batch_size=7)
    want = brute_force(scores, split, part, k)
    values = got.set_index("metric")["value"]
    for metric in ("HR", "NDCG", "MRR"):
        assert values[metric] == pytest.approx(want[metric], abs=1e-9)
    assert (got["n_users"] == want["n"]).all()


def test_temporal_split_with_cold_and_multi_item_users():
    split = temporal_split(make_synthetic(n_users=60, n_items=40, seed=5), 0.2, 0.2)
    scores = np.random.default_rng(0).random((60, 40))
    got = evaluate(Fixed(scores), split, 10, metrics=("HR", "NDCG", "MRR")).set_index("metric")["value"]
    want = brute_force(scores, split, "test", 10)
    assert got["NDCG"] == pytest.approx(want["NDCG"]) and got["MRR"] == pytest.approx(want["MRR"])


def test_tidy_table_and_leaderboard(split):
    models = {"pop": Popularity().fit(split.train), "rand": Random().fit(split.train)}
    results = compare(models, split, k=(5, 10), metrics=("HR", "NDCG", "AUC", "Coverage", "Gini", "Novelty", "Diversity"))
    assert list(results.columns) == ["model", "part", "protocol", "metric", "k", "value", "lo", "hi", "n_users"]
    assert len(results) == 2 * (1 + 6 * 2)
    board = leaderboard(results, k=10)
    assert list(board.index) == ["pop", "rand"] or list(board.index) == ["rand", "pop"]
    assert {"HR@10", "NDCG@10", "AUC", "Coverage@10"} <= set(board.columns)
    cov = results.query("model == 'rand' and metric == 'Coverage' and k == 10")["value"].item()
    assert cov > results.query("model == 'pop' and metric == 'Coverage' and k == 10")["value"].item()


def test_sampled_candidates_exclude_history_and_flatter(split):
    pop = Popularity().fit(split.train)
    full = evaluate(pop, split, 10, metrics=("HR",))["value"].item()
    sampled = evaluate(pop, split, 10, metrics=("HR",), sampled=20)["value"].item()
    assert sampled > full  # ranking among 21 candidates is easier than among the catalogue
    # with as many negatives as there are items, "sampled" ranks the whole unseen catalogue
    everything = evaluate(pop, split, 10, metrics=("HR",), sampled=10_000)["value"].item()
    assert everything == pytest.approx(full)


def test_sampler_draws_negatives_as_documented():
    from reclab.evaluation import _candidates
    import scipy.sparse as sp

    n_items, n = 30, 5
    rel = sp.csr_matrix(([1.0], ([0], [3])), shape=(1, n_items))
    masked = np.zeros((1, n_items), bool)
    masked[0, :10] = True  # history
    rng = np.random.default_rng(0)
    uniform = np.zeros(n_items)
    weighted = np.zeros(n_items)
    popularity = np.arange(1, n_items + 1, dtype=float)
    for _ in range(2000):
        cand = _candidates(rel, masked, n, "uniform", popularity, rng)[0]
        assert cand[3] and cand.sum() == n + 1 and not cand[:10][np.arange(10) != 3].any()
        uniform += cand
        weighted += _candidates(rel, masked, n, "popularity", popularity, rng)[0]
    draws = uniform[10:] / 2000  # each of the 20 allowed negatives: 5/20 = 0.25 of the time
    assert np.allclose(draws, 0.25, atol=0.05)
    assert weighted[10:15].sum() < weighted[25:30].sum()  # popular items are drawn more


def test_bad_arguments(split):
    pop = Popularity().fit(split.train)
    with pytest.raises(ValueError, match="part='train'"):
        evaluate(pop, split, part="train")
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(pop, split, metrics=("Accuracy",))
    with pytest.raises(ValueError, match="k=0"):
        evaluate(pop, split, k=0)
    with pytest.raises(ValueError, match="k=51 is larger than the catalogue"):
        evaluate(pop, split, k=51)
    with pytest.raises(ValueError, match="sampler='pop'"):
        evaluate(pop, split, sampled=10, sampler="pop")


def test_plot_results_draws_each_models_interval(split):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.container import ErrorbarContainer

    from reclab.evaluation import plot_results

    results = compare({"pop": Popularity().fit(split.train), "rand": Random().fit(split.train)}, split, 10,
                      metrics=("NDCG",))
    ax = plot_results(results, metric="NDCG")
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1
    segments = bars[0].lines[2][0].get_segments()  # one horizontal segment per model: lo to hi
    lows = sorted(min(seg[:, 0]) for seg in segments)
    assert lows == pytest.approx(sorted(results["lo"]))
    names = [t.get_text() for t in ax.get_yticklabels()]
    by_name = results.set_index("model")
    assert names == list(by_name["value"].sort_values(ascending=False).index)  # best at the top
    for seg in segments:  # each interval sits on its own model's row
        model = names[int(round(seg[0, 1]))]
        assert sorted(seg[:, 0]) == pytest.approx([by_name.loc[model, "lo"], by_name.loc[model, "hi"]])
