"""Small helpers every notebook needs: which device to train on, which versions are installed, and
the tables the benchmarks saved.

Notebooks call these in their set-up check, so what they print must be the same on every machine
with the pinned environment: versions only, never paths, timings or memory addresses.
"""
from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

_DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device to run on: the one asked for, or the best one available for "auto".

    Parameters
    ----------
    device : "auto", "cpu", "cuda", "cuda:N", "mps" or a `torch.device`
        "auto" picks CUDA when a GPU is visible, else Apple's MPS, else the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        When the device is not one of the kinds above, or is asked for but not available here.

    Examples
    --------
    >>> pick_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or device.split(":")[0] not in _DEVICE_KINDS:
        raise ValueError(
            f"device={device!r} is not a device this course knows; use one of "
            f"{', '.join(repr(k) for k in _DEVICE_KINDS)} (or 'cuda:N' for GPU number N)."
        )
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for, but torch sees no CUDA GPU on this machine; "
            "use device='auto' (falls back to the CPU) or 'cpu'."
        )
    if kind == "cuda" and ":" in device:
        index = device.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} names a GPU that does not exist; this machine has "
                f"{torch.cuda.device_count()} (cuda:0 to cuda:{torch.cuda.device_count() - 1})."
            )
    if kind == "mps" and not _mps_available():
        raise ValueError(
            f"device={device!r} was asked for, but Apple's MPS backend is not available here; "
            "use device='auto' or 'cpu'."
        )
    return torch.device(device)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def versions() -> dict[str, str]:
    """Versions of Python (major.minor) and of the packages the course leans on, for set-up checks.

    The torch version drops its local suffix ("2.13.0+cpu" → "2.13.0"): the CPU-only and the CUDA
    builds of one release are the same torch for this course, and the committed notebook outputs
    must not depend on which build a machine installed. The device check shows the difference.

    Examples
    --------
    >>> sorted(versions())
    ['numpy', 'pandas', 'python', 'reclab', 'torch']
    """
    out = {"python": ".".join(platform.python_version_tuple()[:2])}
    for package in ("torch", "numpy", "pandas", "reclab"):
        try:
            out[package] = version(package).split("+")[0]
        except PackageNotFoundError:  # reclab run from a source tree that was not pip-installed
            out[package] = "not installed"
    return out


RESULTS_ENV = "RECLAB_BENCHMARK_RESULTS"


def benchmark_results_dir() -> Path:
    """The folder of the benchmarks' saved tables: ``$RECLAB_BENCHMARK_RESULTS`` if set, else
    ``benchmarks/results`` of the repository this package was installed from (``pip install -e .``).

    The notebooks read their long-run tables through this, never through a path relative to the
    notebook, so that a notebook run from anywhere else (nbgrader's ``autograded/STUDENT/ASSIGNMENT``,
    a papermill output folder, a student copy) finds the same files.
    """
    override = os.environ.get(RESULTS_ENV)
    folder = Path(override) if override else Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    if not folder.is_dir():
        where = f"${RESULTS_ENV}={override!r}" if override else f"the repository beside the package ({folder})"
        raise FileNotFoundError(
            f"no benchmark results folder at {where}. Install reclab from a clone of the course "
            f"(pip install -e .), or set {RESULTS_ENV} to a folder holding the benchmarks' CSV files."
        )
    return folder


def read_benchmark(name: str, **read_csv_kwargs):
    """One table the benchmarks saved, as a DataFrame: ``read_benchmark("libraries")`` reads
    ``benchmarks/results/libraries.csv`` (see :func:`benchmark_results_dir`). Keyword arguments go
    to :func:`pandas.read_csv`."""
    import pandas as pd

    if not isinstance(name, str) or not name or Path(name).name != name or name.endswith(".csv"):
        raise ValueError(f"name={name!r}: give a table's name without folder or suffix, e.g. 'libraries'")
    folder = benchmark_results_dir()
    path = folder / f"{name}.csv"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.csv"))) or "none"
        raise FileNotFoundError(
            f"name={name!r}: no table {path.name} in the benchmark results folder; saved tables: {known}. "
            f"Each is written by its script in benchmarks/ (python benchmarks/<script>.py)."
        )
    return pd.read_csv(path, **read_csv_kwargs)
