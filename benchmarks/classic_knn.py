"""Neighbourhood models and EASE on ml-100k, leave-last-out, full ranking.

    python benchmarks/classic_knn.py           # test table for the default settings
    python benchmarks/classic_knn.py --tune    # the validation sweep the defaults were chosen by

Each model is fitted once, on ``split.train``, and `evaluate` scores it from the history known
before each part (``split.history(part)``: train for the validation item, train + valid for the
test item; see `reclab.models.base`). Hyper-parameters are chosen on ``split.valid`` (the
second-to-last item of each user); the test part is only ever reported, never used to choose.
The table gives both parts of the same fit, with 95% bootstrap intervals for NDCG@10. Numbers,
not assertions: the tests check correctness, this script measures.
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


def run(model, split, parts=("test",)) -> dict:
    """One fit on train; HR, NDCG (with its interval) and Coverage @10 on each of ``parts``."""
    start = time.perf_counter()
    model.fit(split.train)
    seconds = time.perf_counter() - start
    row = {}
    for part in parts:
        result = evaluate(model, split, 10, part=part, metrics=("HR", "NDCG", "Coverage")).set_index("metric")
        prefix = "" if part == "test" else f"{part} "
        row.update({f"{prefix}{m}@10": result.loc[m, "value"] for m in ("HR", "NDCG", "Coverage")})
        row[f"{prefix}NDCG 95% CI"] = f"[{result.loc['NDCG', 'lo']:.4f}, {result.loc['NDCG', 'hi']:.4f}]"
    return {**row, "fit s": seconds}


def tune(split) -> None:
    for cls, grid in GRIDS.items():
        rows = []
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values))
            rows.append({**params, **run(cls(**params), split, parts=("valid",))})
        table = pd.DataFrame(rows).sort_values("valid NDCG@10", ascending=False)
        table[list(grid)] = table[list(grid)].astype(str)  # None stays "None", not NaN
        print(f"\n{cls.__name__}: validation NDCG@10, best 5 of {len(table)}")
        print(table.head(5).to_string(index=False, float_format="{:.4f}".format))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="run the validation sweep instead of the test table")
    parser.add_argument("--size", default="100k", help="MovieLens size (default 100k)")
    parser.add_argument("--models", nargs="+", default=["Popularity", "UserKNN", "ItemKNN", "EASE"],
                        help="models of the test table (default: all four)")
    args = parser.parse_args()
    torch.set_num_threads(2)  # numpy's BLAS follows its own settings; the machine has 2 cores
    split = leave_last_out(load_movielens(args.size))
    if args.tune:
        tune(split)
        return
    classes = {"Popularity": Popularity, "UserKNN": UserKNN, "ItemKNN": ItemKNN, "EASE": EASE}
    unknown = sorted(set(args.models) - set(classes))
    if unknown:
        parser.error(f"--models {' '.join(unknown)}: unknown; choose among {', '.join(classes)}")
    table = pd.DataFrame({name: run(classes[name](), split, parts=("test", "valid")) for name in args.models}).T
    print(f"ml-{args.size}, leave-last-out, full ranking (default settings; one fit each, test and valid parts)")
    print(table.to_string(float_format="{:.4f}".format))


if __name__ == "__main__":
    main()
