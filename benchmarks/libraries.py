"""reclab's models next to the libraries practitioners use: implicit, LightFM and Surprise (ml-100k).

Every model is fitted on ``split.train`` of the leave-last-out split (one CPU thread) and scored on
the test part against the full catalogue, the history's items masked, with reclab's metrics:

- **implicit** 0.7.3 ``AlternatingLeastSquares`` next to ``reclab.models.ALS``: the same factors,
  regularisation, iterations and 3 conjugate-gradient steps; implicit's confidence is ``alpha·r``
  and reclab's ``1 + alpha·r``, so implicit gets ``alpha + 1`` (the adapter of
  ``implicit_vs_reclab.py`` folds the test history in with ``recalculate_user``).
- **LightFM** 1.17 without features (pure collaborative filtering), losses ``bpr`` and ``warp``,
  next to ``reclab.models.BPR``: the same number of factors; LightFM's own learning rate and
  epochs (Adagrad, its default). LightFM cannot fold a new history in without user features, so it
  scores from its training factors, and so does BPR in the "train" rows.
- **Surprise** 1.1.5 ``SVD`` next to ``reclab.models.FunkSVD``: rating prediction, the same factors,
  epochs, learning rate, regularisation and initial spread (Surprise updates after every rating,
  reclab after mini-batches of 1,024). RMSE on the 943 test ratings, each model predicting from its
  training factors, with a paired bootstrap interval of the difference of squared errors.

Columns: NDCG@10 with reclab's 95% bootstrap interval over users; ``p`` the paired sign-flip test
against the reclab counterpart (``reclab.evaluate_lists`` on top-10 lists); ``fit cpu s``
(``time.process_time``). The libraries are not dependencies of reclab. Install them into a folder
of their own, ``--no-deps`` so that pip never touches the pinned torch (numpy, scipy and the rest
come from reclab's environment)::

    pip install --target /tmp/libs --no-deps implicit==0.7.3 scikit-surprise==1.1.5   # manylinux wheels
    # lightfm 1.17 is an sdist whose setup.py fails under recent setuptools ("'dict' object has no
    # attribute '__LIGHTFM_SETUP__'"), even in `pip download`: fetch the archive, patch that line,
    # build it (needs a C compiler)
    curl -LO https://files.pythonhosted.org/packages/1f/96/5ec230f5c27811534af0faaa8525f11c1000ee1c24c8a82c0546d0724aea/lightfm-1.17.tar.gz
    tar xzf lightfm-1.17.tar.gz
    sed -i 's/^__builtins__.__LIGHTFM_SETUP__ = True/import builtins; builtins.__LIGHTFM_SETUP__ = True/' \
        lightfm-1.17/setup.py
    pip install --target /tmp/libs --no-deps ./lightfm-1.17
    cd benchmarks && PYTHONPATH=/tmp/libs python libraries.py [--libraries implicit lightfm surprise]

The comparison holds for these settings only. Another run here (128 factors, 40 epochs without
early stopping for reclab's BPR and LightFM) put LightFM's BPR 0.017 behind reclab's (p = 0.006)
and its WARP 0.011 behind (p = 0.05): LightFM's step size and penalty do not mean what reclab's do,
and were left at LightFM's defaults. A library that is not importable
is reported with that line and skipped. Writes ``benchmarks/results/libraries.csv``.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy is imported: one thread for every library

import argparse
import importlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from implicit_vs_reclab import ALS_ARGS, ImplicitAdapter, TrainHistory  # benchmarks/ (run from this folder)
from reclab import evaluate_lists
from reclab.data import leave_last_out, load_movielens
from reclab.metrics import rmse, top_k
from reclab.models import ALS, BPR, FunkSVD
from reclab.stats import paired_test

LIBRARIES = {"implicit": "implicit", "lightfm": "lightfm", "surprise": "surprise"}
PIP = "pip install --target /tmp/libs --no-deps implicit==0.7.3 scikit-surprise==1.1.5 (lightfm: see this docstring)"
OUT = Path(__file__).parent / "results" / "libraries.csv"
FACTORS, K = 64, 10
FUNK = dict(n_factors=32, n_epochs=20, lr=0.01, reg=0.05, init_std=0.1)  # FunkSVD's defaults, spelled out


class Factors:
    """Scores ``user_vectors @ item_vectors.T + item_bias`` from fixed training factors (no fold-in)."""

    def __init__(self, users: np.ndarray, items: np.ndarray, bias: np.ndarray):
        self.users, self.items, self.bias = users, items, bias

    def score(self, users, history=None) -> np.ndarray:
        return self.users[users] @ self.items.T + self.bias


def top_lists(model, split, history) -> np.ndarray:
    """(n_users, K) best unseen items of ``model.score`` for every user, from ``history``."""
    scores = model.score(np.arange(split.train.n_users), history=history)
    return top_k(scores, K, exclude=history.binary())[0]


def timed(fit):
    start = time.process_time()
    model = fit()
    return model, time.process_time() - start


def implicit_rows(split) -> list[dict]:
    from implicit.als import AlternatingLeastSquares

    test = split.history("test")
    ours, cpu = timed(lambda: ALS(**ALS_ARGS).fit(split.train))
    theirs, their_cpu = timed(lambda: _fit_implicit(AlternatingLeastSquares(
        factors=ALS_ARGS["n_factors"], regularization=ALS_ARGS["reg"], alpha=ALS_ARGS["alpha"] + 1,
        iterations=ALS_ARGS["n_epochs"], use_gpu=False, num_threads=1, random_state=0), split))
    return [dict(library="reclab", model="ALS", counterpart="", history="train + valid (fold-in)",
                 lists=top_lists(ours, split, test), cpu=cpu),
            dict(library="implicit", model="AlternatingLeastSquares", counterpart="ALS",
                 history="train + valid (fold-in)", lists=top_lists(ImplicitAdapter(theirs, split.train), split, test),
                 cpu=their_cpu)]


def _fit_implicit(model, split):
    model.fit(split.train.binary().astype(np.float32), show_progress=False)
    return model


def lightfm_rows(split) -> list[dict]:
    from lightfm import LightFM

    test = split.history("test")
    ours, cpu = timed(lambda: BPR(n_factors=FACTORS, device="cpu").fit(split.train, valid=split.valid))
    rows = [dict(library="reclab", model="BPR", counterpart="", history="train", cpu=cpu,
                 lists=top_lists(TrainHistory(ours), split, test))]
    for loss in ("bpr", "warp"):
        def fit(loss=loss):
            model = LightFM(no_components=FACTORS, loss=loss, random_state=0)
            return model.fit(split.train.binary().tocoo(), epochs=30, num_threads=1)

        model, their_cpu = timed(fit)
        bias, vectors = model.get_item_representations()
        _, users = model.get_user_representations()
        rows.append(dict(library="lightfm", model=f"LightFM(loss={loss!r})", counterpart="BPR", history="train",
                         lists=top_lists(Factors(users, vectors, bias), split, test), cpu=their_cpu))
    return rows


def surprise_rows(split) -> list[dict]:
    from surprise import SVD, Dataset, Reader

    train, target = split.train.ratings, split.test.ratings
    ours, cpu = timed(lambda: FunkSVD(**FUNK, device="cpu").fit(split.train))
    ours_pred = ours.predict(target["user"].to_numpy(), target["item"].to_numpy())

    def fit():
        data = Dataset.load_from_df(train[["user", "item", "rating"]], Reader(rating_scale=(1, 5)))
        model = SVD(n_factors=FUNK["n_factors"], n_epochs=FUNK["n_epochs"], lr_all=FUNK["lr"], reg_all=FUNK["reg"],
                    init_std_dev=FUNK["init_std"], random_state=0)
        return model.fit(data.build_full_trainset())

    theirs, their_cpu = timed(fit)
    their_pred = np.array([theirs.predict(u, i).est for u, i in zip(target["user"], target["item"])])
    truth = target["rating"].to_numpy(float)
    diff = paired_test((their_pred - truth) ** 2, (ours_pred - truth) ** 2)
    return [dict(library="reclab", model="FunkSVD", counterpart="", history="train", cpu=cpu,
                 RMSE=rmse(truth, ours_pred)),
            dict(library="surprise", model="SVD", counterpart="FunkSVD", history="train", cpu=their_cpu,
                 RMSE=rmse(truth, their_pred), **{"MSE diff": diff["diff"], "MSE diff lo": diff["lo"],
                                                  "MSE diff hi": diff["hi"], "p": diff["p_value"]})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", nargs="*", default=list(LIBRARIES), choices=list(LIBRARIES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = leave_last_out(load_movielens("100k"))
    rows = []
    for library in args.libraries:
        try:
            importlib.import_module(LIBRARIES[library])
        except ImportError as error:
            print(f"{library}: not importable ({error}); install it with: {PIP}  (then PYTHONPATH=/tmp/libs)")
            continue
        rows += {"implicit": implicit_rows, "lightfm": lightfm_rows, "surprise": surprise_rows}[library](split)
        print(f"{library}: done", flush=True)
    ranked = [r for r in rows if "lists" in r]
    for row in ranked:  # NDCG@10 and the paired test against the reclab counterpart, from the lists
        base = row["counterpart"] or row["model"]
        pair = next(r for r in ranked if r["library"] == "reclab" and r["model"] == base)
        table = evaluate_lists({"ours": pair["lists"], "theirs": row["lists"]}, split, k=K, metrics=("NDCG",),
                               baseline="ours").set_index("model")
        row.update({"NDCG@10": table.loc["theirs", "value"], "lo": table.loc["theirs", "lo"],
                    "hi": table.loc["theirs", "hi"]})
        if row["counterpart"]:
            row["p"] = table.loc["theirs", "p_value"]
    columns = ["library", "model", "counterpart", "history", "NDCG@10", "lo", "hi", "RMSE", "MSE diff",
               "MSE diff lo", "MSE diff hi", "p", "cpu"]
    frame = pd.DataFrame(rows).reindex(columns=columns).rename(columns={"cpu": "fit cpu s"})
    print(frame.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if set(args.libraries) == set(LIBRARIES) and len({r["library"] for r in rows}) == len(LIBRARIES) + 1:
        frame.to_csv(OUT, index=False, float_format="%.6g")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
