"""reclab.utils: device choice, the version report of the set-up check, the benchmarks' saved tables."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reclab.utils import RESULTS_ENV, benchmark_results_dir, pick_device, read_benchmark, versions

ROOT = Path(__file__).resolve().parents[1]


def test_auto_picks_the_best_available_device():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device().type == expected
    assert pick_device("auto") == pick_device()


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_cpu_is_always_available(device):
    assert pick_device(device) == torch.device("cpu")


@pytest.mark.parametrize("device", ["gpu", "tpu", "", "cuda:x", 3, None])
def test_unknown_devices_are_rejected_with_the_value(device):
    with pytest.raises(ValueError, match="device="):
        pick_device(device)


def test_cuda_without_a_gpu_says_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='auto'"):
        pick_device("cuda")


def test_cuda_index_out_of_range_is_rejected(monkeypatch):
    # simulate a one-GPU machine, so the check runs on CPU-only CI too
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="does not exist"):
        pick_device("cuda:1")


def test_versions_are_machine_independent():
    v = versions()
    assert list(v) == ["python", "torch", "numpy", "pandas", "reclab"]
    assert v["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert v["torch"] == torch.__version__.split("+")[0]  # no +cpu / +cu121 build suffix
    assert all(re.fullmatch(r"\d+(\.\d+)*", x) for x in v.values())


def test_benchmark_tables_are_found_beside_the_package_from_any_working_directory(tmp_path):
    # nbgrader runs a submission in autograded/STUDENT/ASSIGNMENT/, where ../benchmarks does not exist
    code = ("import sys; from reclab.utils import read_benchmark; "
            "t = read_benchmark('libraries'); print(len(t), list(t.columns)[:2])")
    env = {k: v for k, v in os.environ.items() if k != RESULTS_ENV}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = (ROOT / "benchmarks" / "results" / "libraries.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert done.stdout.strip() == f"{len(lines) - 1} {header[:2]}"


def test_the_results_folder_can_be_moved_with_an_environment_variable(tmp_path, monkeypatch):
    (tmp_path / "toy.csv").write_text("model,NDCG@10\nA,0.25\nB,0.5\n")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    assert benchmark_results_dir() == tmp_path
    table = read_benchmark("toy", index_col="model")
    assert table.loc["B", "NDCG@10"] == 0.5 and list(table.index) == ["A", "B"]
    with pytest.raises(FileNotFoundError, match=r"name='nope'.*saved tables: toy"):
        read_benchmark("nope")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=RESULTS_ENV):
        read_benchmark("toy")


@pytest.mark.parametrize("name", ["toy.csv", "../toy", "a/b", "", 3])
def test_a_table_is_named_without_folder_or_suffix(name):
    with pytest.raises(ValueError, match="name="):
        read_benchmark(name)


def test_no_notebook_reads_a_file_by_a_path_relative_to_itself():
    # a relative path breaks as soon as the notebook runs elsewhere (nbgrader, papermill, student/)
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                assert not re.search(r"""["']\.\.?/""", source), (path.name, source[:200])
