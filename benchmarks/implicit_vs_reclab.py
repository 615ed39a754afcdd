"""reclab's ALS and BPR next to implicit 0.7.3's, in one run, on one CPU thread (ml-100k, leave-last-out).

Both libraries fit on ``split.train`` only, with the same factors, regularisation and iterations,
and are scored on the test part with ``history = split.history("test")`` (train + valid), the
history's items masked, full ranking. A changed user is folded in where the library can: reclab's
models do it themselves; implicit's ALS through ``recalculate_user`` (its exact per-user solve);
implicit's BPR has no fold-in, so it scores from its training factors (the "train history" column
is the fair comparison for BPR). Confidence: reclab uses c = 1 + alpha·r, implicit c = alpha·r, so
implicit gets ``alpha + 1`` for binary data — the same weights.

BPR is also fitted for a fixed number of epochs (no early stopping) to show its time against
quality next to implicit's iterations. Prints fit CPU seconds (``time.process_time``, the least of ``--repeat`` fits: the machine may be
shared) and test NDCG@10 with its 95% interval. Run:
``python benchmarks/implicit_vs_reclab.py [--repeat 3] [--only ALS]``. implicit is needed for this
script only (``pip install implicit==0.7.3``); it is not a dependency of reclab.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy is imported: one thread for every library

import argparse
import time

import numpy as np
import pandas as pd
import torch

from reclab import evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import ALS, BPR
from reclab.models.base import changed_users

ALS_ARGS = dict(n_factors=128, n_epochs=15, reg=20.0, alpha=5.0)
BPR_ARGS = dict(n_factors=128, lr=0.01, reg=0.01)


class ImplicitAdapter:
    """An implicit model behind reclab's ``score(users, history=...)``, folding in changed users when it can."""

    def __init__(self, model, train, fold_in: bool = True):
        self.model, self.train, self.fold_in, self.folded = model, train, fold_in, {}

    def _user_factors(self, history) -> np.ndarray:
        X = np.asarray(self.model.user_factors)
        if history is None or history is self.train or not self.fold_in:
            return X
        if id(history) not in self.folded:
            users = changed_users(self.train, history)
            X = X.copy()
            try:
                X[users] = self.model.recalculate_user(users, history.binary()[users].astype(np.float32))
            except NotImplementedError:  # implicit's BPR cannot fold in: it keeps its training factors
                pass
            self.folded[id(history)] = X
        return self.folded[id(history)]

    def score(self, users, history=None) -> np.ndarray:
        return self._user_factors(history)[users] @ np.asarray(self.model.item_factors).T


class TrainHistory:
    """Any model scored from its training factors whatever the history (no fold-in)."""

    def __init__(self, model):
        self.model = model

    def score(self, users, history=None) -> np.ndarray:
        return self.model.score(users)


def fit_cpu(make, fit, repeat: int):
    """The least CPU time over ``repeat`` fits of ``make()``, and the last fitted model."""
    best = np.inf
    for _ in range(repeat):
        model = make()
        start = time.process_time()
        fit(model)
        best = min(best, time.process_time() - start)
    return model, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fits per model; the least CPU time is reported")
    parser.add_argument("--only", choices=("ALS", "BPR"), default=None)
    args = parser.parse_args()
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    split = leave_last_out(load_movielens("100k"))
    X = split.train.binary().astype(np.float32)

    def ndcg(model) -> str:
        row = evaluate(model, split, 10, metrics=("NDCG",)).iloc[0]
        return f"{row['value']:.4f} [{row['lo']:.4f}, {row['hi']:.4f}]"

    def implicit_fit(model):
        model.fit(X, show_progress=False)

    runs = []
    if args.only in (None, "ALS"):
        runs += [
            ("ALS", "reclab CG (3 steps)", lambda: ALS(**ALS_ARGS), lambda m: m.fit(split.train), "reclab"),
            ("ALS", "reclab exact", lambda: ALS(**ALS_ARGS, cg_steps=None), lambda m: m.fit(split.train), "reclab"),
            ("ALS", "implicit CG (3 steps)", lambda: AlternatingLeastSquares(
                factors=128, regularization=20.0, alpha=6.0, iterations=15, use_gpu=False, num_threads=1,
                random_state=0), implicit_fit, "implicit"),
        ]
    if args.only in (None, "BPR"):
        runs += [
            ("BPR", "reclab, early-stopped", lambda: BPR(**BPR_ARGS, device="cpu"),
             lambda m: m.fit(split.train, valid=split.valid), "reclab"),
        ] + [
            ("BPR", f"reclab, {n} epochs", lambda n=n: BPR(**BPR_ARGS, n_epochs=n, patience=None, device="cpu"),
             lambda m: m.fit(split.train), "reclab") for n in (5, 10, 20, 40)
        ] + [
            ("BPR", f"implicit, {n} iterations", lambda n=n: BayesianPersonalizedRanking(
                factors=128, learning_rate=0.01, regularization=0.01, iterations=n, use_gpu=False, num_threads=1,
                random_state=0), implicit_fit, "implicit") for n in (40, 100, 300)
        ]
    rows = []
    with threadpool_limits(1):
        for family, name, make, fit, library in runs:
            model, cpu = fit_cpu(make, fit, args.repeat)
            scored = model if library == "reclab" else ImplicitAdapter(model, split.train)
            start = time.process_time()
            folded = ndcg(scored)
            fold_cpu = time.process_time() - start
            unfolded = TrainHistory(model) if library == "reclab" else ImplicitAdapter(model, split.train, fold_in=False)
            plain = ndcg(unfolded)
            rows.append({"model": family, "run": name, "fit CPU s": round(cpu, 2),
                         "test NDCG@10, history folded in": folded, "test NDCG@10, train history": plain,
                         "fold-in + scoring CPU s": round(fold_cpu, 2)})
            print(f"{family} {name}: fit {cpu:.2f} CPU s", flush=True)
    print(pd.DataFrame(rows).set_index(["model", "run"]).to_string())


if __name__ == "__main__":
    main()
