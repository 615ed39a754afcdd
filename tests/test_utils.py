"""reclab.utils: device choice and the version report of the set-up check."""
from __future__ import annotations

import re
import sys

import pytest
import torch

from reclab.utils import pick_device, versions


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
