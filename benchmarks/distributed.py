"""SASRec on ml-100k in 1 and in 2 CPU processes (DistributedDataParallel, issue #14): seconds per epoch.

    python benchmarks/distributed.py                 # 1 then 2 processes, 3 epochs each
    python benchmarks/distributed.py --epochs 5 --processes 1 2 4

The script launches itself under ``python -m torch.distributed.run --standalone --nproc_per_node N``
for each N (gloo on the CPU, one torch thread per process); each run fits SASRec with its default
settings (batch 32: the global batch, 32 / N rows per process) on the leave-last-out split for a
fixed number of epochs (no early stopping), and process 0 writes its history. Columns: "s/epoch" is
the median wall time of one training epoch (validation excluded, which process 0 runs alone),
"speed-up" the 1-process s/epoch over it, "valid NDCG@10" the validation metric of the last epoch,
"fit s" the whole run of the launcher, interpreter starts included. Numbers, not assertions.

Each process computes the loss of its half of every batch (SASRec's full-catalogue logits are most
of the work) and the gradient all-reduce per step is small next to it, so on two free cores an
epoch takes about half as long: 12.4 s against 6.1 s (2.0×) on the 2-core machine of issue #14,
shared with other jobs, so both figures are slow. Validation is not split (process 0 scores all
users), so the whole fit gains less. The validation NDCG differs a little between N (0.071 and
0.073 there), as `reclab.train` says (each process averages its loss over its own positions;
dropout streams differ), well within the noise of 943 validation users.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def worker(out: Path, epochs: int) -> None:
    """One process of a run: fit SASRec; process 0 writes the history to ``out``."""
    import torch

    torch.set_num_threads(1)
    from reclab.data import leave_last_out, load_movielens
    from reclab.models import SASRec
    from reclab.train import is_main_process, world_size

    split = leave_last_out(load_movielens("100k"))
    model = SASRec(n_epochs=epochs, patience=None, device="cpu").fit(split.train, valid=split.valid)
    if is_main_process():
        frame = model.history_.frame
        out.write_text(json.dumps({"processes": world_size(), "s/epoch": float(frame["seconds"].median()),
                                   "valid NDCG@10": float(frame["valid"].iloc[-1])}))


def launch(processes: int, epochs: int, folder: Path) -> dict:
    """Run this script's worker in ``processes`` processes; the row of the table."""
    out = folder / f"run{processes}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    tic = time.perf_counter()
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                    str(processes), __file__, "--worker", str(out), "--epochs", str(epochs)],
                   env=env, check=True, timeout=600)
    return json.loads(out.read_text()) | {"fit s": time.perf_counter() - tic}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (no early stopping)")
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2], help="process counts to compare")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # set by the launcher
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.epochs)
        return
    with tempfile.TemporaryDirectory() as folder:
        rows = [launch(n, args.epochs, Path(folder)) for n in args.processes]
    table = pd.DataFrame(rows).set_index("processes")
    table.insert(1, "speed-up", table["s/epoch"].iloc[0] / table["s/epoch"])
    print(f"\nSASRec on ml-100k, {args.epochs} epochs, CPU, gloo, one torch thread per process")
    print(table.to_string(float_format=lambda x: f"{x:.4f}" if x < 1 else f"{x:.2f}"))


if __name__ == "__main__":
    main()
