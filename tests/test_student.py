"""Student copies of every course notebook: stubs the checkers read, nothing left of the solutions.

The copies are also executed, in tests/course (`make course`, run by CI after `make test`): one
light notebook with overridden papermill parameters, then every notebook.
"""
from __future__ import annotations

import ast

import nbformat
import pytest

from reclab.course import course_notebooks, is_graded
from reclab.exercises import STUB, make_student_copies

from student import NOTEBOOKS, stubbed_cells


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    return {p.name: nbformat.read(p, as_version=4) for p in make_student_copies(NOTEBOOKS, folder)}


def test_every_notebook_gets_a_copy(copies):
    assert sorted(copies) == [p.name for p in course_notebooks(NOTEBOOKS)]


def test_nothing_of_the_solutions_or_the_outputs_is_left(copies):
    for name, nb in copies.items():
        for cell in nb.cells:
            assert "SOLUTION" not in cell.source, name
            assert not is_graded(cell) and "nbgrader" not in cell.metadata, name
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


def test_one_stub_per_exercise_and_only_its_checker_reads_answer(copies):
    # 04 ex4, 07 ex2, 08 ex3 and 10 ex1 printed titles[answer] after the checker: with the stub,
    # titles[...] printed the whole titles array; 06 ex2's stub assigned `net`, not `answer`
    total = 0
    for name, nb in copies.items():
        solved = nbformat.read(NOTEBOOKS / name, as_version=4)
        exercises = [c for c in solved.cells if "### BEGIN SOLUTION" in c.source]
        stubs = stubbed_cells(nb)
        assert len(stubs) == len(exercises), name
        total += len(stubs)
        for cell in stubs:
            tree = ast.parse(cell.source)
            (stub_at,) = [i for i, node in enumerate(tree.body) if ast.unparse(node) == "answer = ..."]
            after = tree.body[stub_at + 1:]
            assert len(after) == 1 and ast.unparse(after[0]).startswith("check("), (name, cell.source)
            reads = [n for node in tree.body[:stub_at] for n in ast.walk(node)
                     if isinstance(n, ast.Name) and n.id == "answer"]
            assert not reads, (name, cell.source)  # nothing before the stub uses an old answer either
    assert total >= 40
    assert STUB == "answer = ...  # YOUR CODE HERE"


def test_every_code_cell_is_valid_python(copies):
    for name, nb in copies.items():
        for cell in nb.cells:
            if cell.cell_type == "code":
                ast.parse("\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith(("%", "!"))))
