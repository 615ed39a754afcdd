"""Neural CF (GMF, MLP, NeuMF) and the Markov chain on ml-100k, leave-last-out, full ranking.

    python benchmarks/neural.py                 # the test table for the default settings
    python benchmarks/neural.py --threads 2     # torch threads (default 1, see below)

Every model is fitted on ``split.train``; the neural ones stop early on validation NDCG@10
(``split.valid``) and keep their best epoch; the test part is only reported. NeuMF appears twice:
from random weights, and initialised from the GMF and MLP above (the paper's pre-training; its
"fit s" counts the NeuMF stage only, add the two branches for the whole recipe). Numbers, not
assertions: the tests check correctness, this script measures.

One torch thread by default: with batches of a few thousand small embeddings, a second thread
saves little, and on a busy machine threads that wait for each other make training many times
slower.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from reclab import evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import GMF, MLP, MarkovChain, NeuMF, Popularity


def run(model, split, **fit_kwargs) -> dict:
    start = time.perf_counter()
    model.fit(split.train, valid=split.valid, **fit_kwargs)
    seconds = time.perf_counter() - start
    result = evaluate(model, split, 10, metrics=("HR", "NDCG", "MRR", "Coverage"))
    row = {f"{m}@10": v for m, v in zip(result["metric"], result["value"])}
    history = getattr(model, "history_", None)
    if history is not None:
        frame = history.frame
        row |= {"s/epoch": frame["seconds"].mean(), "epochs": len(frame), "best epoch": history.best_epoch}
    return {**row, "fit s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'auto', 'cuda' or 'mps'")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = leave_last_out(load_movielens("100k"))
    rows = {"Popularity": run(Popularity(), split), "MarkovChain": run(MarkovChain(), split)}
    gmf, mlp = GMF(device=args.device), MLP(device=args.device)
    rows["GMF"] = run(gmf, split)
    rows["MLP"] = run(mlp, split)
    rows["NeuMF"] = run(NeuMF(device=args.device), split)
    # after pre-training a smaller step refines the branches instead of undoing them
    rows["NeuMF (pre-trained)"] = run(NeuMF(lr=3e-4, device=args.device), split, pretrained=(gmf, mlp))
    table = pd.DataFrame(rows).T
    table[["epochs", "best epoch"]] = table[["epochs", "best epoch"]].astype("Int64")
    print(f"ml-100k, leave-last-out, test part, full ranking (default settings, {args.threads} torch thread(s))")
    print(table.to_string(float_format="{:.4f}".format, na_rep="-"))


if __name__ == "__main__":
    main()
