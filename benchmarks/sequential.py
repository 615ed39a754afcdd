"""Sequence models (GRU4Rec, Caser, SASRec, BERT4Rec) on ml-100k, leave-last-out, full ranking.

    python benchmarks/sequential.py                      # every model, default settings
    python benchmarks/sequential.py --models SASRec      # just one (names as in the table)
    python benchmarks/sequential.py --threads 2          # torch threads (default 1, see below)

The sequence models are fitted on ``split.train`` and stop early on validation NDCG@10
(``split.valid``), keeping their best epoch; at test time `evaluate` scores them from
``split.history("test")``, each user's history up to and including the validation item, as in the
SASRec and BERT4Rec papers (one fit serves both parts, no refit). Popularity, EASE and the
first-order Markov chain are the references to beat. Numbers, not assertions.

Columns: "NDCG lo"/"NDCG hi" bound the 95% bootstrap interval of test NDCG@10; "s/epoch" is the
median wall time of one training epoch (validation excluded); "fit s" the whole fit, validation
included; "fit cpu s" the CPU time of the fit — on a machine shared with other jobs it is the
better measure of the work done, as wall time then depends on the neighbours; "cpu s to best" its
share up to the best epoch (epochs taken as equally long): the cost of the weights kept, without
the ``patience`` epochs that confirm them. One thread by default: on a busy machine, threads that
wait for each other make training several times slower.

Run with every model (the default), the script also writes two files that notebook 08 reads:
``benchmarks/results/sequential.csv`` (the table) and ``benchmarks/results/sequential_lists.csv``,
each model's top 10 for every user on the test part (seen items masked, best first). From the
lists, `reclab.evaluate_lists` gives the same HR, NDCG and MRR and the paired tests without a
refit, so 08 can rank GRU4Rec and Caser (trained in 07) with the models it trains itself.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from _cli import model_arguments  # benchmarks/_cli.py (scripts run from this folder)
from reclab import compare, evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import BERT4Rec, Caser, EASE, GRU4Rec, MarkovChain, Popularity, SASRec

MODELS = {
    "Popularity": lambda: Popularity(),
    "EASE": lambda: EASE(),
    "MarkovChain": lambda: MarkovChain(),
    "GRU4Rec": lambda: GRU4Rec(),
    "Caser": lambda: Caser(),  # the paper's d = 50, L = 5, 16 horizontal and 4 vertical filters
    "Caser (T=3)": lambda: Caser(n_targets=3),  # the paper's three next items per window
    "SASRec": lambda: SASRec(),
    "SASRec (bce)": lambda: SASRec(loss="bce"),
    "BERT4Rec": lambda: BERT4Rec(),
}
RESULTS = Path(__file__).parent / "results"


def paired(models: dict, split, baseline: str) -> pd.DataFrame:
    """Test NDCG@10 of every model against ``baseline``, paired over users (reclab.compare)."""
    table = compare(models, split, 10, metrics=("NDCG",), baseline=baseline)
    return table.set_index("model")[["value", "lo", "hi", "diff", "diff_lo", "diff_hi", "p_value"]]


def top_lists(fitted: dict, split, k: int = 10) -> pd.DataFrame:
    """Each model's top ``k`` on the test part, one row per (model, user): columns model, user, 1..k."""
    users = np.arange(split.train.n_users)
    frames = []
    for name, model in fitted.items():
        items, _ = model.recommend(users, k=k, history=split.history("test"))
        frame = pd.DataFrame(items, columns=[str(r) for r in range(1, k + 1)])
        frames.append(frame.assign(model=name, user=users)[["model", "user", *frame.columns]])
    return pd.concat(frames, ignore_index=True)


def run(model, split) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(split.train, valid=split.valid)
    row = {"fit s": time.perf_counter() - wall, "fit cpu s": time.process_time() - cpu}
    result = evaluate(model, split, 10, metrics=("HR", "NDCG", "MRR", "Coverage"))
    row |= {f"{m}@10": v for m, v in zip(result["metric"], result["value"])}
    ndcg = result[result["metric"] == "NDCG"].iloc[0]
    row |= {"NDCG lo": ndcg["lo"], "NDCG hi": ndcg["hi"]}
    history = getattr(model, "history_", None)
    if history is not None:
        epochs = len(history.frame)
        row |= {"s/epoch": history.frame["seconds"].median(), "epochs": epochs,
                "best epoch": history.best_epoch, "valid NDCG@10": history.best_value,
                "cpu s to best": row["fit cpu s"] * history.best_epoch / epochs}
    return row


def main() -> None:
    args = model_arguments(__doc__.splitlines()[0], MODELS)
    split = leave_last_out(load_movielens("100k"))
    rows, fitted = {}, {}
    for name in args.models:
        fitted[name] = MODELS[name]()
        rows[name] = run(fitted[name], split)
        row = rows[name]
        print(f"{name}: NDCG@10 {row['NDCG@10']:.4f} [{row['NDCG lo']:.4f}, {row['NDCG hi']:.4f}] "
              f"in {row['fit s']:.0f} s", flush=True)
    columns = ["HR@10", "NDCG@10", "NDCG lo", "NDCG hi", "MRR@10", "Coverage@10", "valid NDCG@10", "s/epoch",
               "epochs", "best epoch", "fit s", "fit cpu s", "cpu s to best"]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    print(f"\nml-100k, leave-last-out, test, full ranking ({args.threads} torch thread(s))")
    print(table.to_string(float_format=lambda x: f"{x:.4f}" if x < 1 else f"{x:.1f}"))
    for baseline in ("EASE", "SASRec"):
        if baseline in fitted and len(fitted) > 1:
            print(f"\ntest NDCG@10 against {baseline}, paired over users (diff = model - {baseline})")
            print(paired(fitted, split, baseline).to_string(float_format=lambda x: f"{x:.4f}"))
    if list(fitted) == list(MODELS):  # a partial run leaves the committed files alone
        table.rename_axis("model").to_csv(RESULTS / "sequential.csv", float_format="%.6g")
        top_lists(fitted, split).to_csv(RESULTS / "sequential_lists.csv", index=False)
        print(f"\nwrote {RESULTS / 'sequential.csv'} and {RESULTS / 'sequential_lists.csv'}")


if __name__ == "__main__":
    main()
