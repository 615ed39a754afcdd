"""reclab.exercises: checkers print ✅ / ❌ / ⬜ and never raise; student copies lose the solutions."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from reclab import exercises
from reclab.data import Interactions, make_synthetic
from reclab.exercises import EXERCISES, Exercise, check, make_student_copy, register, strip_solutions

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def data() -> Interactions:
    return make_synthetic(n_users=200, n_items=60, seed=3)


@pytest.fixture(scope="module")
def other() -> Interactions:
    return make_synthetic(n_users=80, n_items=40, seed=4)


# ---------------------------------------------------------------- the 00 exercises vs brute force
def brute_liked_density(data: Interactions) -> float:
    r = data.ratings
    pairs = {(u, i) for u, i, x in zip(r["user"], r["item"], r["rating"]) if x >= 4}
    return len(pairs) / (data.n_users * data.n_items)


def brute_top_users_share(data: Interactions) -> float:
    counts = sorted(data.ratings["user"].value_counts().tolist(), reverse=True)
    return sum(counts[: int(0.2 * data.n_users)]) / len(data.ratings)


def brute_light_users(data: Interactions) -> int:
    per_user = data.ratings.groupby("user").size().reindex(range(data.n_users), fill_value=0)
    return int((per_user < 30).sum())


def brute_most_rated_title(data: Interactions) -> str:
    counts = data.ratings["item"].value_counts()
    best = min(i for i, n in counts.items() if n == counts.max())
    return data.items.loc[best, "title"]


BRUTE = {
    "00-liked-density": brute_liked_density,
    "00-top-users-share": brute_top_users_share,
    "00-light-users": brute_light_users,
    "00-most-rated-title": brute_most_rated_title,
}


@pytest.mark.parametrize("name", sorted(BRUTE))
def test_00_solutions_match_brute_force(name, data, other):
    for d in (data, other):
        expected = EXERCISES[name].solution(d)
        brute = BRUTE[name](d)
        assert expected == pytest.approx(brute) if isinstance(brute, float) else expected == brute


@pytest.mark.parametrize("name", sorted(BRUTE))
def test_00_brute_force_answer_is_accepted(name, data, capsys):
    check(name, BRUTE[name](data), data)
    out = capsys.readouterr().out
    assert out.startswith(f"✅ {name}"), out


def test_expected_value_comes_from_the_data_passed(data, other):
    # the right answer for one dataset is wrong for another: nothing is hard-coded
    ex = EXERCISES["00-liked-density"]
    assert ex.evaluate(brute_liked_density(data), data).ok
    assert not ex.evaluate(brute_liked_density(data), other).ok


# ---------------------------------------------------------------- messages
def test_wrong_answer_prints_input_expected_and_got(data, capsys):
    check("00-light-users", 12345, data)
    out = capsys.readouterr().out
    assert out.startswith("❌ 00-light-users")
    assert f"expected: {brute_light_users(data)}" in out
    assert "got:      12345" in out
    assert "synthetic (" in out and "ratings" in out  # the input is described
    assert "hint:" in out


@pytest.mark.parametrize("stub", [..., None])
def test_stub_is_not_attempted(stub, data, capsys):
    check("00-liked-density", stub, data)
    out = capsys.readouterr().out
    assert out.startswith("⬜ 00-liked-density: not attempted")
    assert "❌" not in out and "✅" not in out


def test_percentage_instead_of_fraction_gets_a_note(data):
    outcome = EXERCISES["00-liked-density"].evaluate(100 * brute_liked_density(data), data)
    assert outcome.status == "wrong" and "percentage" in outcome.message


def test_numpy_torch_and_zero_d_answers_are_accepted(data):
    ex = EXERCISES["00-light-users"]
    value = brute_light_users(data)
    for answer in (np.int64(value), np.array(value), torch.tensor(value), float(value)):
        assert ex.evaluate(answer, data).ok, type(answer)


def test_title_comparison_ignores_case_and_spacing(data):
    title = brute_most_rated_title(data)
    assert EXERCISES["00-most-rated-title"].evaluate(f"  {title.upper()} ", data).ok
    assert not EXERCISES["00-most-rated-title"].evaluate(title + "x", data).ok


class Nasty:
    """An answer whose every dunder raises: the checker must still answer, not crash."""

    def __eq__(self, other):
        raise RuntimeError("no ==")

    def __float__(self):
        raise RuntimeError("no float")

    def __repr__(self):
        raise RuntimeError("no repr")

    @property
    def shape(self):
        raise RuntimeError("no shape")


WEIRD = [
    "0.5", b"bytes", True, [1, 2], (3,), {"a": 1}, {1, 2}, object(), Nasty(), float("nan"),
    math.inf, -1, np.array([1.0, 2.0]), np.zeros((2, 2)), pd.Series([1.0]), torch.ones(3),
    pd.DataFrame({"a": [1]}), complex(1, 2), np.array("x"),
]


@pytest.mark.parametrize("answer", WEIRD, ids=lambda a: type(a).__name__)
@pytest.mark.parametrize("name", sorted(BRUTE))
def test_weird_answers_never_raise(name, answer, data, capsys):
    check(name, answer, data)
    out = capsys.readouterr().out
    assert out.startswith("❌"), out
    assert "0x" not in out  # no memory address leaks into notebook outputs


def test_one_element_series_gets_a_hint(data):
    outcome = EXERCISES["00-light-users"].evaluate(pd.Series([brute_light_users(data)]), data)
    assert not outcome.ok and ".item()" in outcome.message


def test_bad_inputs_and_unknown_names_never_raise(capsys):
    check("00-light-users", 3, "not a dataset")
    check("00-light-users", 3)
    check("no-such-exercise", 3)
    check(["unhashable"], 3)
    out = capsys.readouterr().out.splitlines()
    assert [line[0] for line in out if line[:1] in "❌✅⬜"] == ["❌"] * 4


def test_check_returns_nothing(data, capsys):
    # a value would be echoed by Jupyter as an extra output under the ✅ line
    assert check("00-light-users", 0, data) is None


# ---------------------------------------------------------------- registering new exercises
def test_register_a_new_exercise_with_tolerance_and_order(capsys):
    ex = register(Exercise("99-test-mean", "Mean of the inputs?", solution=lambda xs: float(np.mean(xs)), rtol=1e-3))
    try:
        check("99-test-mean", 2.0005, [1, 2, 3])
        check("99-test-mean", 2.1, [1, 2, 3])
        assert capsys.readouterr().out.splitlines()[0].startswith("✅ 99-test-mean")
        with pytest.raises(ValueError, match="99-test-mean"):
            register(Exercise("99-test-mean", "again", solution=len))
        # re-running the notebook cell that defines an exercise replaces it
        again = Exercise("99-test-mean", "Mean of the inputs?", solution=lambda xs: float(np.median(xs)))
        assert register(again) is again and EXERCISES["99-test-mean"] is again
    finally:
        EXERCISES.pop("99-test-mean")


def test_sequence_exercises_compare_shape_values_and_optionally_order():
    ordered = Exercise("x", "?", solution=lambda: [3, 1, 2])
    unordered = Exercise("y", "?", solution=lambda: [3, 1, 2], unordered=True)
    assert ordered.evaluate(np.array([3, 1, 2])).ok
    assert not ordered.evaluate([1, 2, 3]).ok
    assert unordered.evaluate((1, 2, 3)).ok
    outcome = ordered.evaluate([3, 1])
    assert not outcome.ok and "shape" in outcome.message
    assert not ordered.evaluate("312").ok


def test_a_failing_solution_is_reported_not_raised():
    outcome = Exercise("z", "?", solution=lambda d: 1 / 0).evaluate(1, "data")
    assert outcome.status == "wrong" and "ZeroDivisionError" in outcome.message


# ---------------------------------------------------------------- student copies
SOLUTION_CELL = """\
x = 1
### BEGIN SOLUTION
tmp = data.ratings["rating"] >= 4
answer = tmp.mean()
### END SOLUTION
check("00-liked-density", answer, data)"""


def test_strip_solutions_keeps_the_rest():
    out = strip_solutions(SOLUTION_CELL)
    assert out.splitlines() == ["x = 1", "answer = ...  # YOUR CODE HERE", 'check("00-liked-density", answer, data)']


def test_the_stub_always_assigns_answer_the_name_every_checker_reads():
    # 06's exercise 2 ended its solution with `net = gmf.net_` before a `with` block that set answer:
    # a stub named after the last top-level assignment read `net = ...`, and the checker re-read an old answer
    source = ("### BEGIN SOLUTION\nnet = gmf.net_\nwith torch.no_grad():\n    answer = float(net(0))\n"
              "### END SOLUTION\ncheck(\"06-gmf-logit\", answer, gmf)")
    assert strip_solutions(source).splitlines()[0] == "answer = ...  # YOUR CODE HERE"
    assert exercises.STUB == "answer = ...  # YOUR CODE HERE"


def test_strip_solutions_inside_a_function_keeps_indentation():
    source = "def f(data):\n    ### BEGIN SOLUTION\n    answer = len(data)\n    ### END SOLUTION\n    return answer"
    out = strip_solutions(source)
    assert out.splitlines()[1] == "    answer = ...  # YOUR CODE HERE"
    ast.parse(out)


def test_strip_solutions_handles_several_blocks():
    source = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n### BEGIN SOLUTION\nprint(2)\n### END SOLUTION"
    assert strip_solutions(source).splitlines() == ["answer = ...  # YOUR CODE HERE", "b = 2",
                                                    "answer = ...  # YOUR CODE HERE"]


@pytest.mark.parametrize(
    "source, match",
    [
        ("### BEGIN SOLUTION\na = 1", "never closed"),
        ("a = 1\n### END SOLUTION", "without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "second"),
    ],
)
def test_strip_solutions_rejects_broken_markup(source, match):
    with pytest.raises(ValueError, match=match):
        strip_solutions(source, where="cell 3")


def _instructor_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    intro = nbformat.v4.new_markdown_cell("# Title\n\nSome prose.")
    setup = nbformat.v4.new_code_cell("data = load()", execution_count=1)
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text="loaded\n")]
    exercise = nbformat.v4.new_code_cell(SOLUTION_CELL, execution_count=2)
    exercise.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✅ correct\n")]
    written = nbformat.v4.new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    nb.cells = [intro, setup, exercise, written]
    return nb


def test_make_student_copy(tmp_path):
    src, dst = tmp_path / "00-x.ipynb", tmp_path / "student" / "00-x.ipynb"
    nbformat.write(_instructor_notebook(), src)
    before = src.read_bytes()
    assert make_student_copy(src, dst) == dst
    assert src.read_bytes() == before  # the instructor's notebook is untouched
    copy = nbformat.read(dst, as_version=4)
    nbformat.validate(copy)
    text = "\n".join(c.source for c in copy.cells)
    assert "BEGIN SOLUTION" not in text and "tmp =" not in text and "Because." not in text
    assert copy.cells[2].source.splitlines()[1] == "answer = ...  # YOUR CODE HERE"
    assert "YOUR ANSWER HERE" in copy.cells[3].source
    assert [c.source for c in copy.cells[:2]] == ["# Title\n\nSome prose.", "data = load()"]
    for cell in copy.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_make_student_copy_drops_graded_cells_and_nbgrader_metadata(tmp_path):
    nb = _instructor_notebook()
    nb.cells[2].metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "x-solution"}
    graded = nbformat.v4.new_code_cell('grade("00-liked-density", answer, data)')
    graded.metadata = {"tags": ["graded"], "nbgrader": {"grade": True, "solution": False, "points": 1}}
    nb.cells.insert(3, graded)
    src, dst = tmp_path / "00-x.ipynb", tmp_path / "s" / "00-x.ipynb"
    nbformat.write(nb, src)
    copy = nbformat.read(make_student_copy(src, dst), as_version=4)
    assert len(copy.cells) == len(nb.cells) - 1
    assert not any("grade(" in c.source for c in copy.cells)
    assert not any("nbgrader" in c.metadata for c in copy.cells)


def _course_folder(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("00-a.ipynb", "01-b.ipynb"):
        nbformat.write(_instructor_notebook(), folder / name)
    nbformat.write(_instructor_notebook(), folder / "scratch.ipynb")  # not a course notebook
    return folder


def test_student_copies_of_a_folder(tmp_path, capsys):
    folder = _course_folder(tmp_path)
    assert exercises.main([str(folder), str(tmp_path / "student")]) == 0
    assert "wrote 2 student copies" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "student").iterdir()) == ["00-a.ipynb", "01-b.ipynb"]
    copy = nbformat.read(tmp_path / "student" / "01-b.ipynb", as_version=4)
    assert copy.cells[2].source.splitlines()[1] == "answer = ...  # YOUR CODE HERE"


def test_student_copies_never_overwrite_a_learners_work_unless_forced(tmp_path, capsys):
    folder, student = _course_folder(tmp_path), tmp_path / "student"
    student.mkdir()
    (student / "01-b.ipynb").write_text("my work")
    (student / "notes.txt").write_text("mine")
    assert exercises.main([str(folder), str(student)]) == 2
    err = capsys.readouterr().err
    assert "01-b.ipynb" in err and "--force" in err
    assert (student / "01-b.ipynb").read_text() == "my work" and not (student / "00-a.ipynb").exists()
    assert exercises.main([str(folder), str(student), "--force"]) == 0
    assert (student / "01-b.ipynb").read_text() != "my work"
    assert (student / "notes.txt").read_text() == "mine"  # a file the tool did not write is left alone
    with pytest.raises(ValueError, match="source folder"):
        exercises.make_student_copies(folder, folder, force=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no course notebook"):
        exercises.make_student_copies(tmp_path / "empty", tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        exercises.make_student_copies(tmp_path / "nowhere", tmp_path / "x")


def test_make_student_copy_refuses_to_overwrite_the_source(tmp_path):
    src = tmp_path / "00-x.ipynb"
    nbformat.write(_instructor_notebook(), src)
    with pytest.raises(ValueError, match="source notebook"):
        make_student_copy(src, src)


def test_command_line(tmp_path, capsys):
    src, dst = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    nbformat.write(_instructor_notebook(), src)
    assert exercises.main([str(src), str(dst)]) == 0
    assert dst.is_file() and "wrote" in capsys.readouterr().out
    assert exercises.main([str(src), str(dst)]) == 2  # a copy may hold a learner's work: not overwritten
    assert "--force" in capsys.readouterr().err


@pytest.mark.skipif(not (NOTEBOOKS / "00-welcome.ipynb").exists(), reason="notebook 00 not written yet")
def test_student_copy_of_notebook_00(tmp_path):
    dst = make_student_copy(NOTEBOOKS / "00-welcome.ipynb", tmp_path / "00-welcome.ipynb")
    cells = nbformat.read(dst, as_version=4).cells
    stubs = [c.source for c in cells if c.cell_type == "code" and "# YOUR CODE HERE" in c.source]
    assert len(stubs) >= 3
    for source in stubs:
        lines = source.splitlines()
        assert lines[0] == "answer = ...  # YOUR CODE HERE" and lines[1].startswith("check(")
        ast.parse(source)


@pytest.mark.parametrize("answer, symbol", [(..., "⬜"), (None, "⬜"), (0.5, "❌")])
def test_grade_raises_with_the_checkers_message_unless_right(answer, symbol, capsys):
    data = make_synthetic(seed=0)
    with pytest.raises(AssertionError, match=f"^{symbol} 00-light-users"):
        exercises.grade("00-light-users", answer, data)
    right = int((data.ratings.groupby("user").size() < 30).sum())  # brute force, as a learner would
    exercises.grade("00-light-users", right, data)  # silent when right
    assert capsys.readouterr().out == ""


def test_grade_of_an_unknown_exercise_raises():
    with pytest.raises(AssertionError, match="no exercise named 'nope'"):
        exercises.grade("nope", 1)


def test_floats_in_a_list_are_shown_to_six_significant_digits():
    # checker output is compared by nbval: full float precision would differ across machines
    assert exercises._show(np.array([0.12345678912, 2.0, 1e-9 / 3])) == "ndarray [0.123457, 2.0, 3.33333e-10]"
    assert exercises._show([1, 2]) == "list [1, 2]"
    assert exercises._show(1 / 3) == "0.333333"


def test_checkers_and_statistics_import_no_plotting_library():
    """Checking an answer computes numbers; it must not pull in matplotlib (or seaborn)."""
    import subprocess
    import sys

    code = ("import sys, reclab.exercises, reclab.exercises.evaluation, reclab.exercises.hybrid, "
            "reclab.data.statistics, reclab.evaluation; "
            "print(sorted(m for m in ('matplotlib', 'seaborn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
