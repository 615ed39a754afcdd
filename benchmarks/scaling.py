"""Does a bigger SASRec do better on ml-100k? A grid of width × depth × share of training users (issue #11).

    python benchmarks/scaling.py                   # the grid below, into benchmarks/results/scaling.csv
    python benchmarks/scaling.py --quick           # three small points, to try the script
    python benchmarks/scaling.py --resume          # skip the points already in the CSV

Every point is `reclab.scaling.train_point`: SASRec with ``n_factors=width, n_blocks=depth``
trained on a random ``share`` of the training users (leave-last-out split, early stopping on
validation NDCG@10, patience 10, seed 0, one torch thread), then scored on the full test part
from every user's history. The CSV holds one row per point: parameters (all, and without the
embedding tables), tokens seen, estimated FLOPs, epochs, validation and test NDCG@10 with its 95%
interval, and fit seconds. It is written after every point, so an interrupted run keeps what it
finished. Notebook 09 reads the committed CSV, fits the curve and re-runs two points live.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
import torch

from reclab.data import leave_last_out, load_movielens
from reclab.scaling import fit_power_law, flattens_at, train_point

OUT = Path(__file__).parent / "results" / "scaling.csv"
WIDTHS, DEPTHS, SHARES = (8, 16, 32, 64, 128), (1, 2), (0.1, 0.25, 0.5)
GRID = ([(w, d, 1.0) for d in DEPTHS for w in WIDTHS] + [(w, 4, 1.0) for w in (32, 64)]
        + [(w, 2, s) for w in (16, 64) for s in SHARES])
QUICK = [(8, 1, 1.0), (16, 1, 1.0), (16, 1, 0.25)]
KEY = ["width", "depth", "share"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three small points only")
    parser.add_argument("--resume", action="store_true", help="keep the CSV's rows and run the missing points")
    parser.add_argument("--out", type=Path, default=OUT, help=f"CSV to write (default {OUT})")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = leave_last_out(load_movielens("100k"))
    rows = pd.read_csv(args.out).to_dict("records") if args.resume and args.out.exists() else []
    done = {tuple(r[k] for k in KEY) for r in rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for width, depth, share in QUICK if args.quick else GRID:
        if (width, depth, share) in done:
            continue
        point = train_point(split, width, depth, share)
        rows.append(point.as_row())
        print(f"width {width:4d} depth {depth} share {share:4.2f}: {point.parameters:8d} parameters, "
              f"NDCG@10 {point.ndcg:.4f} [{point.ndcg_lo:.4f}, {point.ndcg_hi:.4f}], best epoch {point.best_epoch}, "
              f"{point.seconds:.0f} s", flush=True)
        table = pd.DataFrame(rows).sort_values(KEY)
        tmp = args.out.with_suffix(".csv.tmp")
        table.to_csv(tmp, index=False)
        os.replace(tmp, args.out)
    table = pd.DataFrame(rows)
    full = table[table["share"] == 1.0]
    if len(full) >= 2:
        a, b = fit_power_law(full["parameters"], full["ndcg"])
        print(f"\nfull data: NDCG@10 ≈ {a:.4f} · parameters^{b:.3f}; inside the best point's interval from "
              f"{flattens_at(full):,.0f} parameters on")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
