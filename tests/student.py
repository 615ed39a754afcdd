"""Helpers for the tests of the student copies (tests/test_student.py, tests/course/)."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat

from reclab.exercises import STUB

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def stubbed_cells(nb: nbformat.NotebookNode) -> list:
    """The exercise cells of a student copy: those that hold the stub."""
    return [c for c in nb.cells if c.cell_type == "code" and STUB in c.source.splitlines()]


def errors(nb: nbformat.NotebookNode) -> list[str]:
    """Every error output of an executed notebook, as 'cell N: Name: value'."""
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def checker_lines(nb: nbformat.NotebookNode) -> list[str]:
    """The lines the checkers printed (✅, ❌ or ⬜ first) in an executed notebook."""
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")
    return [line for line in text.splitlines() if line[:1] in ("✅", "❌", "⬜")]


def parameters(path: Path) -> dict:
    """The values of a notebook's parameters cell (literals only, as papermill needs them)."""
    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    values = {}
    for node in ast.parse(cell.source).body:
        values[node.target.id] = ast.literal_eval(node.value)
    return values


def stub_outcomes(nb: nbformat.NotebookNode) -> list[str]:
    """For each exercise cell of an executed student copy, what its checker printed (first symbol)."""
    out = []
    for cell in stubbed_cells(nb):
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        symbols = [line[:1] for line in text.splitlines() if line[:1] in ("✅", "❌", "⬜")]
        out.append("".join(symbols))
    return out


def make_lab_command() -> tuple[str, list[str]]:
    """(served folder relative to the repository, files it opens) of `make lab`, read from a dry run."""
    import shlex
    import subprocess

    dry = subprocess.run(["make", "-n", "-W", "requirements.txt", "lab"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    (line,) = [l for l in dry.splitlines() if " lab " in f" {l} " and "jupyter" in l]
    args = shlex.split(line)
    after = args[args.index("lab") + 1:]
    roots = [a.split("=", 1)[1] for a in after if a.startswith("--ServerApp.root_dir=")]
    positional = [a for a in after if not a.startswith("-")]
    if not roots and positional and (ROOT / positional[0]).is_dir():
        roots = [positional[0]]  # `jupyter lab FOLDER` serves FOLDER
    return (roots[-1] if roots else "."), [a for a in positional if (ROOT / a).is_file()]
