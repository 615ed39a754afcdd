"""The command line every model benchmark shares: ``--models`` (names from its table) and ``--threads``."""
from __future__ import annotations

import argparse

import torch


def model_arguments(description: str, models: dict) -> argparse.Namespace:
    """Parse ``--models`` (checked against ``models``) and ``--threads``, and set torch's thread count."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--models", nargs="*", default=list(models), help=f"any of {list(models)}")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    unknown = [m for m in args.models if m not in models]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(models)}")
    torch.set_num_threads(args.threads)
    return args
