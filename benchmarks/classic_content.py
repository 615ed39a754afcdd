"""Content-based and hybrid recommenders on ml-100k (issue: classic recommenders).

Run: python benchmarks/classic_content.py            (``--quick``: no grid, no MiniLM, a smoke run)

1. ContentBased settings chosen on the *validation* part (leave-last-out, full ranking, NDCG@10):
   a grid over ``interest``, ``half_life`` (recency), ``year_weight`` (release-year feature) and
   ``prior`` (popularity prior), best pure-content setting (``prior=0``) and best overall.
2. Leave-last-out, test part, full ranking (each model fitted once, on train; `evaluate` scores
   the test item from train + valid and the validation item from train, ``split.history(part)``,
   as for every model in reclab; the validation column comes from the same fit): HR@10, NDCG@10
   with its 95% bootstrap interval, Coverage@10 and fit seconds for
   Popularity, ContentBased variants (TF-IDF and MiniLM; one option at a time, then the chosen
   settings), EASE and ItemKNN, and hybrids of them. Hybrid weights are chosen on validation (grid
   below), never on test. MiniLM's fit time is given with an empty cache (encoding 1,682 titles).
3. Item cold start (`cold_item_split`: 20% of the test items lose all their training history):
   the same models on the users whose held-out item is cold.
Numbers only, nothing asserted; timings depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import itertools
import tempfile
import time

import pandas as pd
import torch

from reclab import evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import EASE, ContentBased, Hybrid, ItemKNN, Popularity
from reclab.models.hybrid import cold_item_split

WEIGHTS = (0.05, 0.1, 0.2, 0.3, 0.5)  # share of the content model in a weighted hybrid
METRICS = ("HR", "NDCG", "Coverage")
GRID = {"interest": (1.0, 2.0, 3.0), "half_life": (None, 3.0, 5.0), "year_weight": (0.0, 0.5),
        "prior": (0.0, 0.1, 0.3, 0.5)}
PLAIN = dict(interest=1.0, half_life=None, year_weight=0.0, prior=0.0)  # the textbook model
PURE = dict(interest=3.0, half_life=3.0, year_weight=0.5, prior=0.0)  # the chosen settings without the prior
CHOSEN = {**PURE, "prior": 0.3}  # the best on validation (section 1): ContentBased's defaults


def timed_fit(model, train):
    start = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - start


def both(name, make, split):
    """One fit of make() on train: its test row and its validation NDCG@10."""
    model, seconds = timed_fit(make(), split.train)
    return model, {**row(name, model, split, seconds), "valid NDCG@10": valid_ndcg(model, split)}


def row(name, model, split, seconds=None, part="test"):
    res = evaluate(model, split, 10, part=part, metrics=METRICS).set_index("metric")
    value = res["value"]
    return {"model": name, "HR@10": value["HR"], "NDCG@10": value["NDCG"],
            "NDCG 95% CI": f"[{res.loc['NDCG', 'lo']:.4f}, {res.loc['NDCG', 'hi']:.4f}]",
            "Coverage@10": value["Coverage"], "fit s": seconds}


def valid_ndcg(model, split) -> float:
    return float(evaluate(model, split, 10, part="valid", metrics=("NDCG",))["value"].iloc[0])


def best_weight(content, cf, split):
    """The content weight with the best validation NDCG@10 (components fitted already)."""
    scores = {w: valid_ndcg(Hybrid(models=[content, cf], weights=[w, 1 - w], refit=False).fit(split.train), split)
              for w in WEIGHTS}
    return max(scores, key=scores.get)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the validation grid and MiniLM (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as cache:  # an empty embedding cache, so the first fit encodes
        run(cache, quick=args.quick)


def choose(split):
    """Section 1: validation NDCG@10 of every TF-IDF setting in GRID."""
    rows = []
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values))
        rows.append({**params, "valid NDCG@10": valid_ndcg(ContentBased(**params).fit(split.train), split)})
    grid = pd.DataFrame(rows).sort_values("valid NDCG@10", ascending=False, kind="stable")
    print("ContentBased (TF-IDF) on the validation part: best settings without and with the prior")
    print(grid[grid["prior"] == 0].head(5).round(4).to_string(index=False))
    print(grid.head(5).round(4).to_string(index=False))


def run(cache: str, quick: bool = False):
    split = leave_last_out(load_movielens("100k"))
    if not quick:
        choose(split)
    variants = {
        "Popularity": dict(cls=Popularity),
        "ContentBased tfidf plain": PLAIN,
        "ContentBased tfidf plain, interest=0": {**PLAIN, "interest": 0.0},
        "ContentBased tfidf plain, half_life=3": {**PLAIN, "half_life": 3.0},
        "ContentBased tfidf plain, year_weight=0.5": {**PLAIN, "year_weight": 0.5},
        "ContentBased tfidf plain, prior=0.3": {**PLAIN, "prior": 0.3},
        "ContentBased tfidf, chosen, prior=0 (pure content)": PURE,
        "ContentBased tfidf, chosen, prior=0.3 (defaults)": CHOSEN,
        "EASE": dict(cls=EASE), "ItemKNN": dict(cls=ItemKNN),
    }
    rows, fitted = [], {}
    for name, params in variants.items():
        params = dict(params)
        cls = params.pop("cls", ContentBased)
        fitted[name], result = both(name, lambda: cls(**params), split)
        rows.append(result)
    encoders = ("tfidf",) if quick else ("tfidf", "minilm")
    if not quick:
        _, cold_seconds = timed_fit(ContentBased(encoder="minilm", cache_dir=cache), split.train)
        for name, params in [("plain", PLAIN), ("chosen, prior=0", PURE), ("chosen, prior=0.3", CHOSEN)]:
            fitted[f"minilm {name}"], result = both(
                f"ContentBased minilm, {name}", lambda: ContentBased(encoder="minilm", cache_dir=cache, **params), split)
            rows.append(result)
        print(f"\n(MiniLM's first fit, with an empty embedding cache: {cold_seconds:.0f} s)")

    hybrids = {}
    for cf_name in ("EASE", "ItemKNN"):  # content components without the prior: the CF part knows popularity
        for enc in encoders:
            cf = type(fitted[cf_name])
            w = best_weight(ContentBased(encoder=enc, cache_dir=cache, **PURE).fit(split.train),
                            cf().fit(split.train), split)
            hybrids[f"Hybrid {enc} (prior=0) {w:g} + {cf_name} {1 - w:g}"] = (
                lambda enc=enc, cf=cf, w=w: Hybrid(models=[ContentBased(encoder=enc, cache_dir=cache, **PURE), cf()],
                                                   weights=[w, 1 - w]))
    hybrids["Switching tfidf (<20 items) / EASE"] = lambda: Hybrid(models=[ContentBased(), EASE()],
                                                                   how="switching", min_history=20)
    for name, make in hybrids.items():
        rows.append(both(name, make, split)[1])
    table = pd.DataFrame(rows).set_index("model")
    print("\nml-100k, leave-last-out, test, full ranking (+ validation NDCG@10; Popularity test NDCG@10: 0.0449)")
    print(table.round(4).to_string())

    cold = cold_item_split(split, frac=0.2, seed=0)
    models = {"Popularity": Popularity(), "ContentBased tfidf plain": ContentBased(**PLAIN),
              "ContentBased tfidf chosen, prior=0": ContentBased(**PURE),
              "ContentBased tfidf chosen, prior=0.3": ContentBased(**CHOSEN),
              **({} if quick else {"ContentBased minilm chosen, prior=0": ContentBased(encoder="minilm",
                                                                                        cache_dir=cache, **PURE)}),
              "EASE": EASE(),
              "Hybrid tfidf plain 0.2 + EASE 0.8": Hybrid(models=[ContentBased(**PLAIN), EASE()], weights=[0.2, 0.8]),
              "Hybrid tfidf chosen, prior=0 0.2 + EASE 0.8": Hybrid(models=[ContentBased(**PURE), EASE()],
                                                                    weights=[0.2, 0.8])}
    n_users = len(cold.test.ratings)
    print(f"\nitem cold start: {cold.how}; {n_users} test users whose held-out item is cold")
    print(pd.DataFrame([row(n, m.fit(cold.train), cold) for n, m in models.items()])
          .drop(columns="fit s").set_index("model").round(4).to_string())


if __name__ == "__main__":
    main()
