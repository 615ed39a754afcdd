"""Neighbourhood models and EASE on ml-100k, leave-last-out, full ranking.

    python benchmarks/classic_knn.py           # test table for the default settings
    python benchmarks/classic_knn.py --tune    # the validation sweep the defaults were chosen by

Hyper-parameters are chosen on ``split.valid`` (the second-to-last item of each user) with models
fitted on ``split.train``; for the test table each model is fitted with ``valid=split.valid``, so
it learns from train and scores the test item from train + valid, the history known by then (the
protocol of every model in reclab, see `reclab.models.base`). The test part is only ever
reported, never used to choose. Numbers, not assertions: the tests check correctness, this script measures.
"""
from __future__ import annotations

import argparse
import itertools
import time

import pandas as pd
import torch

from reclab import evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import EASE, ItemKNN, Popularity, UserKNN

# the grids behind the defaults (valid NDCG@10 decides); None = keep every neighbour
GRIDS = {
    EASE: {"reg": [10.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0]},
    ItemKNN: {"similarity": ["cosine", "jaccard"], "k_neighbours": [20, 50, 100, 200, 500, None], "shrink": [0.0, 2.0, 10.0, 50.0]},
    UserKNN: {"similarity": ["cosine", "jaccard"], "k_neighbours": [10, 15, 20, 30, 50, 100], "shrink": [0.0, 5.0, 10.0, 20.0]},
}


def run(model, split, part: str = "test") -> dict:
    start = time.perf_counter()
    model.fit(split.train, valid=split.valid if part == "test" else None)
    seconds = time.perf_counter() - start
    result = evaluate(model, split, 10, part=part, metrics=("HR", "NDCG", "Coverage"))
    row = {f"{m}@10": v for m, v in zip(result["metric"], result["value"])}
    return {**row, "fit s": seconds}


def tune(split) -> None:
    for cls, grid in GRIDS.items():
        rows = []
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values))
            rows.append({**params, **run(cls(**params), split, part="valid")})
        table = pd.DataFrame(rows).sort_values("NDCG@10", ascending=False)
        table[list(grid)] = table[list(grid)].astype(str)  # None stays "None", not NaN
        print(f"\n{cls.__name__}: validation NDCG@10, best 5 of {len(table)}")
        print(table.head(5).to_string(index=False, float_format="{:.4f}".format))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="run the validation sweep instead of the test table")
    args = parser.parse_args()
    torch.set_num_threads(2)  # numpy's BLAS follows its own settings; the machine has 2 cores
    split = leave_last_out(load_movielens("100k"))
    if args.tune:
        tune(split)
        return
    models = {"Popularity": Popularity(), "UserKNN": UserKNN(), "ItemKNN": ItemKNN(), "EASE": EASE()}
    table = pd.DataFrame({name: run(model, split) for name, model in models.items()}).T
    print("ml-100k, leave-last-out, test part, full ranking (default settings)")
    print(table.to_string(float_format="{:.4f}".format))


if __name__ == "__main__":
    main()
