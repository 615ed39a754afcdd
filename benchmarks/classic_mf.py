"""Matrix factorisation on ml-100k, leave-last-out, full ranking: FunkSVD, BPR and ALS with their defaults.

Each model is fitted once, on ``split.train`` (``split.valid`` for early stopping), and scored on
the test part twice: from ``split.history("test")`` (train + valid: the changed users are folded
in) and from the training history (no fold-in; the learned user vectors as they are). Prints test
NDCG@10 with its 95% interval, HR@10 and coverage of the fold-in scoring, the fit time (wall clock,
and CPU time summed over threads: the honest number on a shared machine), FunkSVD's RMSE on the
held-out test ratings, next to Random and Popularity.

``--tune-fold-in`` chooses ``fold_in_epochs`` on the validation part alone: each model is fitted
on train minus each user's last training item (that item serving early stopping), then scored on
valid from the full train history, so that the fold-in adds one item per user, as train + valid
does at test time. Run: ``python benchmarks/classic_mf.py [--threads 1] [--tune-fold-in]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from reclab import evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.evaluation import Evaluator
from reclab.models import ALS, BPR, FunkSVD, Popularity, Random


class TrainHistory:
    """A fitted model scored from its training history whatever history is asked for (no fold-in)."""

    def __init__(self, model):
        self.model = model

    def score(self, users, history=None) -> np.ndarray:
        return self.model.score(users)


def interval(row) -> str:
    return f"{row['value']:.4f} [{row['lo']:.4f}, {row['hi']:.4f}]"


def benchmark(split) -> None:
    models = {"Random": Random(), "Popularity": Popularity(), "FunkSVD": FunkSVD(), "BPR": BPR(), "ALS": ALS()}
    rows = []
    for name, model in models.items():
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(split.train, valid=split.valid)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        result = evaluate(model, split, k=10, metrics=("HR", "NDCG", "Coverage")).set_index("metric")
        plain = evaluate(TrainHistory(model), split, k=10, metrics=("NDCG",)).iloc[0]
        rows.append({"model": name, "NDCG@10 (fold-in)": interval(result.loc["NDCG"]),
                     "NDCG@10 (train history)": interval(plain), "HR@10": result.loc["HR", "value"],
                     "Coverage@10": result.loc["Coverage", "value"], "fit seconds": seconds, "fit CPU seconds": cpu})
        print(f"{name:<10} fitted in {seconds:.1f}s", flush=True)
    print(pd.DataFrame(rows).set_index("model").round(4).to_string())
    test = split.test.ratings
    rmse = np.sqrt(np.mean((models["FunkSVD"].predict(test["user"], test["item"]) - test["rating"].to_numpy()) ** 2))
    mean_rmse = np.sqrt(np.mean((split.train.ratings["rating"].mean() - test["rating"].to_numpy()) ** 2))
    print(f"FunkSVD test RMSE {rmse:.4f} (global-mean baseline {mean_rmse:.4f}) on {len(test)} held-out ratings")


def tune_fold_in(split, epochs=(0, 1, 2, 3, 5, 10, 20)) -> None:
    """Validation NDCG@10 of the fold-in of one held-back item per user, for each ``fold_in_epochs``."""
    inner = leave_last_out(split.train)  # inner.test = each user's last training item
    fitted_on = inner.history("test")  # train minus that item
    evaluator = Evaluator(split.train, split.valid, k=10, metrics=("NDCG",))  # history = the full train
    rows = []
    for name, model in {"FunkSVD": FunkSVD(), "BPR": BPR()}.items():
        model.fit(fitted_on, valid=inner.test)
        for n in epochs:
            model.fold_in_epochs = n
            model._history_cache.clear()  # the fold-in of train is cached per history: redo it
            rows.append({"model": name, "fold_in_epochs": n, "valid NDCG@10": evaluator(model)})
        print(pd.DataFrame(rows).query("model == @name").round(4).to_string(index=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--tune-fold-in", action="store_true", help="choose fold_in_epochs on the validation part")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = leave_last_out(load_movielens("100k"))
    tune_fold_in(split) if args.tune_fold_in else benchmark(split)


if __name__ == "__main__":
    main()
