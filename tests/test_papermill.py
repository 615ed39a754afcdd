"""papermill: every parameter is visible with its type, and an override takes effect in a real run."""
from __future__ import annotations

import ast

import nbformat
import papermill
import pytest

from reclab.course import course_notebooks
from reclab.exercises import make_student_copy

from student import NOTEBOOKS, errors, parameters, stub_outcomes



@pytest.mark.parametrize("path", course_notebooks(NOTEBOOKS), ids=lambda p: p.stem)
def test_every_assignment_of_the_parameters_cell_is_a_typed_papermill_parameter(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "one cell tagged parameters"
    assigned = {}
    for node in ast.parse(cells[0].source).body:
        # `A, B = 1, 2` (05 had one) and unannotated names are invisible to --help-notebook's types
        assert isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name), ast.unparse(node)
        assigned[node.target.id] = (ast.unparse(node.annotation), ast.literal_eval(node.value))
    inspected = papermill.inspect_notebook(str(path))
    assert list(inspected) == list(assigned)
    for name, (annotation, value) in assigned.items():
        assert inspected[name]["inferred_type_name"] == annotation == type(value).__name__, name
    assert parameters(path) == {name: value for name, (_, value) in assigned.items()}


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
