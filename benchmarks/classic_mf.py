"""Matrix factorisation on ml-100k, leave-last-out, full ranking: FunkSVD, BPR and ALS with their defaults.

Prints test HR@10, NDCG@10 and catalogue coverage (seen items masked), the fit time (wall clock,
and CPU time summed over threads: the honest number on a shared machine), and FunkSVD's
RMSE on the held-out test ratings, next to Random and Popularity. Defaults were tuned on the
validation part only. Run: ``python benchmarks/classic_mf.py [--threads 2]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from reclab import evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import ALS, BPR, FunkSVD, Popularity, Random


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = leave_last_out(load_movielens("100k"))
    models = {"Random": Random(), "Popularity": Popularity(), "FunkSVD": FunkSVD(), "BPR": BPR(), "ALS": ALS()}
    rows = []
    for name, model in models.items():
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(split.train, valid=split.valid)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        result = evaluate(model, split, k=10, metrics=("HR", "NDCG", "Coverage")).set_index("metric")["value"]
        rows.append({"model": name, "HR@10": result["HR"], "NDCG@10": result["NDCG"],
                     "Coverage@10": result["Coverage"], "fit seconds": seconds, "fit CPU seconds": cpu})
        print(f"{name:<10} fitted in {seconds:.1f}s", flush=True)
    print(pd.DataFrame(rows).set_index("model").round(4).to_string())
    test = split.test.ratings
    rmse = np.sqrt(np.mean((models["FunkSVD"].predict(test["user"], test["item"]) - test["rating"].to_numpy()) ** 2))
    mean_rmse = np.sqrt(np.mean((split.train.ratings["rating"].mean() - test["rating"].to_numpy()) ** 2))
    print(f"FunkSVD test RMSE {rmse:.4f} (global-mean baseline {mean_rmse:.4f}) on {len(test)} held-out ratings")


if __name__ == "__main__":
    main()
