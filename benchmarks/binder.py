"""Binder, proven: build the environment as repo2docker does from binder/, then run every notebook in it.

    python benchmarks/binder.py                    # fresh venv in /tmp/reclab-binder, all notebooks
    python benchmarks/binder.py --only 00 05       # some notebooks
    python benchmarks/binder.py --reuse            # keep an environment built before

What repo2docker does with this repository's ``binder/`` folder, step by step, in a fresh virtual
environment of ``runtime.txt``'s Python: ``pip install --no-cache-dir -r binder/requirements.txt``
(the same pins as requirements.txt; torch from PyTorch's CPU index, or from a find-links folder that
pip is configured with, as on the course's machine), then ``binder/postBuild`` from the repository
root, then every command under ``binder/start``, which pins the CPU kernels. The script then checks
that every pin is what got installed and that torch is a CPU build, and runs each notebook top to
bottom in that environment (nbconvert, one notebook at a time, as a Binder user would) while a
monitor samples the resident memory of the run's whole process tree (nbconvert and its kernel)
every 0.1 s. The memory cap is hard: a run whose tree exceeds ``--cap-gb`` (default 2.0, Binder's
limit) is killed and reported. Results go to ``benchmarks/results/binder.csv``.

Binder's 2 GB also holds the Jupyter server (about 0.1 GB, not measured here), so a notebook
should stay well under the cap.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "binder.csv"


def start_environment() -> dict[str, str]:
    """The environment binder/start exports (its `export NAME=value` lines)."""
    text = (ROOT / "binder" / "start").read_text()
    return {k: v.strip('"') for k, v in re.findall(r"^export (\w+)=(.+)$", text, re.M)}


def build(venv: Path) -> float:
    """A fresh venv with what repo2docker installs; returns the seconds it took."""
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()  # "python-3.11"
    python = shutil.which(runtime.replace("python-", "python"))
    if python is None:
        raise SystemExit(f"binder/runtime.txt asks for {runtime}; no {runtime.replace('python-', 'python')} here")
    marker = venv / ".reclab-binder"
    if venv.exists():
        if not marker.is_file():  # never delete a folder this script did not make
            raise SystemExit(f"--venv {venv} exists and was not made by benchmarks/binder.py; pick another path")
        shutil.rmtree(venv)
    start = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    marker.write_text("made by benchmarks/binder.py; rebuilt on every run without --reuse\n")
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    env = {**os.environ, "PIP_RETRIES": "0", "PIP_TIMEOUT": "10"}  # an unreachable index fails fast
    subprocess.run([*pip, "install", "--quiet", "--no-cache-dir", "-r", "binder/requirements.txt"], cwd=ROOT,
                   env=env, check=True)
    path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"  # postBuild's `pip` is the environment's
    subprocess.run(["bash", "binder/postBuild"], cwd=ROOT, env={**env, "PATH": path}, check=True)
    return time.perf_counter() - start


def verify(venv: Path) -> None:
    """Every pin of binder/requirements.txt is installed at its version; torch is a CPU build."""
    python = str(venv / "bin" / "python")
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$", (ROOT / "binder" / "requirements.txt").read_text(), re.M))
    code = ("import importlib.metadata as m, json, sys; "
            f"print(json.dumps({{n: m.version(n) for n in {sorted(pins)!r}}}))")
    import json

    got = json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)
    wrong = {n: (v, got[n]) for n, v in pins.items() if got[n].split("+")[0] != v}
    if wrong:
        raise SystemExit(f"installed versions differ from binder/requirements.txt: {wrong}")
    cuda = subprocess.run([python, "-c", "import torch; print(torch.version.cuda)"], capture_output=True,
                          text=True, check=True).stdout.strip()
    if cuda != "None":
        raise SystemExit(f"torch in the Binder environment is a CUDA {cuda} build; Binder has no GPU")
    print(f"{len(pins)} pins installed as pinned; torch is a CPU build")


def run_notebook(venv: Path, path: Path, cap_gb: float, env: dict[str, str]) -> dict:
    """Execute one notebook in the environment; its peak tree memory, seconds and outcome."""
    out = Path("/tmp") / f"binder-{path.name}"
    cmd = [str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--output", str(out),
           "--ExecutePreprocessor.timeout=3600", path.name]
    start = time.perf_counter()
    run_env = {**os.environ, **env, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    log = open(out.with_suffix(".log"), "w+")  # a file, not a pipe: a full pipe would stall the run
    proc = subprocess.Popen(cmd, cwd=path.parent, env=run_env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    top, peak, killed = psutil.Process(proc.pid), 0, False
    while proc.poll() is None:
        try:
            tree = [top, *top.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in tree if p.is_running())
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        if rss > cap_gb * 2**30:
            for p in reversed(tree):
                try:
                    p.kill()
                except psutil.Error:
                    pass
            killed = True
            break
        time.sleep(0.1)
    proc.wait()
    seconds = time.perf_counter() - start
    log.seek(0)
    errors = log.read()[-500:] if proc.returncode else ""
    log.close()
    ok = proc.returncode == 0 and not killed
    return {"notebook": path.stem, "seconds": round(seconds, 1), "peak_gb": round(peak / 2**30, 3),
            "cap_gb": cap_gb, "ok": ok, "note": "killed at the cap" if killed else errors.replace("\n", " ")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default="/tmp/reclab-binder", type=Path)
    parser.add_argument("--reuse", action="store_true", help="use an environment built before")
    parser.add_argument("--only", nargs="*", help="notebook numbers, e.g. 00 05")
    parser.add_argument("--cap-gb", type=float, default=2.0)
    args = parser.parse_args(argv)
    if not args.reuse:
        print(f"built the Binder environment in {build(args.venv):.0f} s")
    verify(args.venv)
    env = start_environment()
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    if args.only:
        notebooks = [p for p in notebooks if p.name[:2] in args.only]
    rows = []
    for path in notebooks:
        row = run_notebook(args.venv, path, args.cap_gb, env)
        rows.append(row)
        print(f"{row['notebook']:<24} {row['seconds']:>7.1f} s  peak {row['peak_gb']:.2f} GB  "
              f"{'ok' if row['ok'] else 'FAILED ' + row['note']}", flush=True)
    if not args.only:
        with open(RESULTS, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
