"""Every student copy runs top to bottom: no error output, and every checker says "not attempted".

This executes all twelve notebooks once more, so it is not part of `make test` (which must stay
within 15 minutes on two cores); `make course` runs it, and CI runs `make course` after `make test`.
The notebooks that train for minutes run here with fewer epochs (the overrides below, passed
with papermill as a learner would): what this checks is the copies' own code (stubs the
checkers read, no cell that breaks on a stub), which is the same with 2 epochs as with 200.
"""
from __future__ import annotations

import nbformat
import papermill
import pytest

from reclab.course import course_notebooks
from reclab.exercises import make_student_copy

from student import NOTEBOOKS, errors, parameters, stub_outcomes



def fewer_epochs(stem: str) -> dict:
    """Papermill parameters that shorten the training of notebook ``stem``; dicts are passed whole."""
    values = parameters(NOTEBOOKS / f"{stem}.ipynb")
    dicts = {"07-rnn": ("CASER",), "08-transformers": ("SASREC", "BERT4REC"), "09-large-models": ("SASREC", "SEMANTIC"),
             "10-beyond-accuracy": ("SASREC",)}
    out = {name: {**values[name], "n_epochs": 2} for name in dicts.get(stem, ())}
    if "N_EPOCHS" in values:
        out["N_EPOCHS"] = 2
    if stem == "05-hybrid":
        out["WITH_MF"] = False
    if stem == "11-scale-and-deploy":
        out.update(DDP_EPOCHS=1, N_SYNTHETIC=20_000)
    return out


@pytest.mark.parametrize("path", course_notebooks(NOTEBOOKS), ids=lambda p: p.stem)
def test_student_copy_runs_and_every_checker_says_not_attempted(path, tmp_path):
    copy = make_student_copy(path, tmp_path / path.name)
    out = tmp_path / f"run-{path.name}"
    papermill.execute_notebook(str(copy), str(out), parameters=fewer_epochs(path.stem), cwd=str(NOTEBOOKS),
                               progress_bar=False, kernel_name="python3", execution_timeout=1800)
    nb = nbformat.read(out, as_version=4)
    assert errors(nb) == []
    outcomes = stub_outcomes(nb)
    assert outcomes and outcomes == ["⬜"] * len(outcomes), outcomes  # one "not attempted" per exercise


def test_a_student_copy_runs_with_overridden_parameters(tmp_path):
    copy = make_student_copy(NOTEBOOKS / "01-evaluation.ipynb", tmp_path / "01-evaluation.ipynb")
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(copy), str(out), parameters={"K": 5, "N_NEGATIVES": 50}, cwd=str(NOTEBOOKS),
                               progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    assert errors(nb) == []
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                     if o.get("output_type") == "stream")
    assert "HR@5" in text and "HR@10" not in text  # K reached every table
    assert stub_outcomes(nb) == ["⬜"] * 4  # one "not attempted" per exercise
