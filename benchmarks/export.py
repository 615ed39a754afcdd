"""SASRec shipped: the torch.export artefact against the eager model, and the int8 copy, on ml-100k.

    python benchmarks/export.py               # one torch thread (see benchmarks/sequential.py)
    python benchmarks/export.py --threads 2

One SASRec (d = 64, 2 blocks, max_len 50, early stopping on validation NDCG@10 with patience 3)
is fitted on ``split.train``, then

- exported with `reclab.export.export_sasrec` and loaded back from the ``.pt2`` file: the largest
  absolute score difference from the eager model over all 943 users, on their test histories
  (train + valid), is the equality check;
- quantised with `reclab.export.quantize_dynamic_int8` (int8 ``nn.Linear`` layers);
- timed: wall time of `score_sequences` for a batch of B users, median of repeats, for the eager
  model, the exported program and the int8 copy;
- measured: bytes of the weights (`reclab.export.state_bytes`) and of the ``.pt2`` file;
- evaluated: test NDCG@10 of each one's top 10, paired over users against the float32 model
  (`reclab.evaluation.evaluate_lists` with ``baseline=``: a gap whose interval holds 0 is noise).

Writes ``benchmarks/results/export.csv`` (columns section, name, value). Numbers, not assertions.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reclab.data import leave_last_out, load_movielens
from reclab.evaluation import evaluate_lists
from reclab.export import export_sasrec, load_sasrec, quantize_dynamic_int8, state_bytes
from reclab.models import SASRec

RESULTS = Path(__file__).parent / "results"
BATCHES = (1, 32, 256, 943)


def latency(score, sequences, batch: int, budget_s: float = 3.0) -> float:
    """Median seconds of ``score(sequences[:batch])``, repeated for about ``budget_s`` (3 to 50 times)."""
    part = sequences[:batch]
    score(part)  # warm-up: first calls allocate
    times = []
    while len(times) < 3 or (sum(times) < budget_s and len(times) < 50):
        start = time.perf_counter()
        score(part)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = leave_last_out(load_movielens("100k"))
    rows = []

    def record(section: str, name: str, value: float, fmt: str = "{:.4g}") -> None:
        rows.append({"section": section, "name": name, "value": value})
        print(f"  {section:9s} {name:38s} {fmt.format(value)}", flush=True)

    model = SASRec(n_factors=64, n_blocks=2, max_len=50, n_epochs=60, patience=3, device="cpu")
    start = time.perf_counter()
    model.fit(split.train, valid=split.valid)
    record("fit", "seconds", time.perf_counter() - start, "{:.1f}")
    record("fit", "epochs", len(model.history_.frame), "{:.0f}")
    record("fit", "best epoch", model.history_.best_epoch, "{:.0f}")

    sequences = split.history("test").sequences()  # every user's train + valid, what test scores continue
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sasrec.pt2"
        start = time.perf_counter()
        export_sasrec(model, path)
        record("export", "export seconds", time.perf_counter() - start, "{:.1f}")
        record("size", "pt2 file bytes", path.stat().st_size, "{:,.0f}")
        exported = load_sasrec(path)
    small = quantize_dynamic_int8(model)

    eager_scores = model.score_sequences(sequences)
    diff = np.abs(exported.score_sequences(sequences) - eager_scores)
    record("export", "max abs diff, 943 users (test hist.)", float(diff.max()), "{:.3g}")
    int8_diff = np.abs(small.score_sequences(sequences) - eager_scores)
    record("int8", "max abs diff, 943 users", float(int8_diff.max()), "{:.3g}")
    record("int8", "max abs diff / score range", float(int8_diff.max() / np.ptp(eager_scores)), "{:.3g}")

    scorers = {"eager": model.score_sequences, "exported": exported.score_sequences, "int8": small.score_sequences}
    for batch in BATCHES:
        for name, score in scorers.items():
            record("latency", f"{name} ms, batch {batch}", 1000 * latency(score, sequences, batch), "{:.2f}")

    record("size", "float32 state bytes", state_bytes(model), "{:,.0f}")
    record("size", "int8 state bytes", state_bytes(small), "{:,.0f}")
    tables = sum(p.numel() * 4 for name, p in model.net_.named_parameters() if "_emb." in name)
    record("size", "embedding tables bytes (stay float32)", tables, "{:,.0f}")

    users = np.arange(split.train.n_users)
    history = split.history("test")
    lists = {"float32": model.recommend(users, k=10, history=history)[0],
             "int8": small.recommend(users, k=10, history=history)[0]}
    top = exported.score_sequences(sequences)
    top[history.binary().nonzero()] = -np.inf  # the seen items, masked as recommend masks them
    lists["exported"] = np.argsort(-top, axis=1, kind="stable")[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(lists["float32"], lists["int8"])])
    record("int8", "top-10 overlap with float32", float(overlap), "{:.4f}")
    table = evaluate_lists(lists, split, 10, metrics=("NDCG",), baseline="float32")
    print(table.to_string(float_format=lambda x: f"{x:.4f}"))
    for _, row in table.iterrows():
        record("ndcg", f"{row['model']} NDCG@10", row["value"])
        if row["model"] != "float32":
            for column in ("diff", "diff_lo", "diff_hi", "p_value"):
                record("ndcg", f"{row['model']} {column}", row[column])
    pd.DataFrame(rows).to_csv(RESULTS / "export.csv", index=False, float_format="%.6g")
    print(f"wrote {RESULTS / 'export.csv'}")


if __name__ == "__main__":
    main()
