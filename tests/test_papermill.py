"""papermill: every parameter of every notebook is visible to it, with its type.

A real run with overridden parameters is in tests/course/test_student_copies_run.py (`make course`).
"""
from __future__ import annotations

import ast

import nbformat
import papermill
import pytest

from reclab.course import course_notebooks

from student import NOTEBOOKS, parameters



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
