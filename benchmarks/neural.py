"""Neural CF (GMF, MLP, NeuMF) and the Markov chain on ml-100k, leave-last-out, full ranking.

    python benchmarks/neural.py                 # the test table for the default settings
    python benchmarks/neural.py --threads 2     # torch threads (default 1, see below)
    python benchmarks/neural.py --fold-in       # how fold_in_epochs was chosen (no test data used)
    python benchmarks/neural.py --fold-in GMF   # the same for GMF only

Every model is fitted on ``split.train``; the neural ones stop early on validation NDCG@10
(``split.valid``) and keep their best epoch; the test part is only reported. At test time
`evaluate` scores every model from ``split.history("test")`` (train + valid): the NCF models fold
the validation item into each user's embedding (``fold_in_epochs``, no refit of the items). The
rows "(no fold-in)" score the same fitted model with the user vectors learned on train alone (same
mask), to show what the fold-in adds. NeuMF appears twice: from random weights, and initialised
from the GMF and MLP above (the paper's pre-training; its "fit s" counts the NeuMF stage only, add
the two branches for the whole recipe). "NDCG lo"/"NDCG hi" bound the 95% bootstrap interval of
test NDCG@10. Numbers, not assertions: the tests check correctness, this script measures.

``--fold-in`` chooses ``fold_in_epochs`` without looking at ``split.valid`` or ``split.test``: the
training part is split once more (leave-last-out of ``split.train``), each model is fitted on
that inner train with early stopping on the inner valid, and the inner test item is ranked from
inner train + inner valid with 0, 1, 2, 5, 10 and 20 fold-in epochs (0 = the learned vectors).

One torch thread by default: with batches of a few thousand small embeddings, a second thread
saves little, and on a busy machine threads that wait for each other make training many times
slower.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from reclab import evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import GMF, MLP, MarkovChain, NeuMF, Popularity


class Learned:
    """A fitted model scored with its training user vectors whatever the history (no fold-in)."""

    def __init__(self, model):
        self.model = model

    def score(self, users):
        return self.model.score(users)  # history = the training data: the learned vectors


def measure(model, split) -> dict:
    result = evaluate(model, split, 10, metrics=("HR", "NDCG", "MRR", "Coverage"))
    row = {f"{m}@10": v for m, v in zip(result["metric"], result["value"])}
    ndcg = result[result["metric"] == "NDCG"].iloc[0]
    return row | {"NDCG lo": ndcg["lo"], "NDCG hi": ndcg["hi"]}


def run(model, split, **fit_kwargs) -> dict:
    start = time.perf_counter()
    model.fit(split.train, valid=split.valid, **fit_kwargs)
    seconds = time.perf_counter() - start
    row = measure(model, split)
    history = getattr(model, "history_", None)
    if history is not None:
        frame = history.frame
        row |= {"s/epoch": frame["seconds"].mean(), "epochs": len(frame), "best epoch": history.best_epoch}
    return {**row, "fit s": seconds}


def fold_in_sweep(split, device: str, models=("GMF", "MLP", "NeuMF"), epochs=(0, 1, 2, 5, 10, 20)) -> pd.DataFrame:
    """Inner-split NDCG@10 of each NCF model for each number of fold-in epochs (see the docstring)."""
    inner = leave_last_out(split.train)
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for model in ({"GMF": GMF, "MLP": MLP, "NeuMF": NeuMF}[name](device=device) for name in models):
            name = type(model).__name__
            model.fit(inner.train, valid=inner.valid)
            path = model.save(Path(folder) / f"{name}.npz")
            for n in epochs:
                fresh = type(model).load(path)  # a fresh copy: no fold-in cached from another setting
                fresh.fold_in_epochs = n
                result = evaluate(fresh, inner, 10, metrics=("NDCG",))
                rows[(name, n)] = result[["value", "lo", "hi"]].iloc[0]
                print(f"{name} fold_in_epochs={n}: inner NDCG@10 {rows[(name, n)]['value']:.4f}", flush=True)
    return pd.DataFrame(rows).T.rename_axis(["model", "fold_in_epochs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'auto', 'cuda' or 'mps'")
    parser.add_argument("--fold-in", nargs="*", metavar="MODEL",
                        help="the fold_in_epochs sweep on an inner split, for these models (default all three)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = leave_last_out(load_movielens("100k"))
    if args.fold_in is not None:
        table = fold_in_sweep(split, args.device, args.fold_in or ("GMF", "MLP", "NeuMF"))
        print("ml-100k, inner leave-last-out of split.train, full ranking: NDCG@10 by fold-in epochs")
        print(table.to_string(float_format="{:.4f}".format))
        return
    rows = {"Popularity": run(Popularity(), split), "MarkovChain": run(MarkovChain(), split)}
    gmf, mlp = GMF(device=args.device), MLP(device=args.device)
    for name, model, kwargs in (("GMF", gmf, {}), ("MLP", mlp, {}), ("NeuMF", NeuMF(device=args.device), {}),
                                # after pre-training a smaller step refines the branches instead of undoing them
                                ("NeuMF (pre-trained)", NeuMF(lr=3e-4, device=args.device),
                                 {"pretrained": (gmf, mlp)})):
        rows[name] = run(model, split, **kwargs)
        rows[f"{name} (no fold-in)"] = measure(Learned(model), split)
        print(f"{name}: NDCG@10 {rows[name]['NDCG@10']:.4f} [{rows[name]['NDCG lo']:.4f}, "
              f"{rows[name]['NDCG hi']:.4f}]", flush=True)
    table = pd.DataFrame(rows).T
    table[["epochs", "best epoch"]] = table[["epochs", "best epoch"]].astype("Int64")
    print(f"ml-100k, leave-last-out, test part, full ranking (default settings, {args.threads} torch thread(s))")
    print(table.to_string(float_format="{:.4f}".format, na_rep="-"))


if __name__ == "__main__":
    main()
