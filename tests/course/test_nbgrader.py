"""The nbgrader round trip on three course notebooks, with the course's own config (grading/).

generate_assignment writes release copies without solutions; autograde gives the solved source
notebooks full marks, an untouched release copy zero (without a crash) and a copy with one wrong
answer everything but that exercise's points. The expected scores are the points of the graded
cells, counted from the notebooks' metadata, not taken from nbgrader. 04 reads a saved benchmark
table: autograde runs it two folders deeper than the course's notebooks/ (it once failed there).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from reclab import course

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = ("00-welcome", "01-evaluation", "04-matrix-factorisation")
WRONG = "00-light-users"  # the exercise the one-wrong copy gets wrong



def nbgrader(course_dir: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)  # nbgrader calls alembic, which lives beside it
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run([os.path.join(bin_dir, "nbgrader"), *args], cwd=course_dir, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def points(path: Path) -> dict[str, float]:
    cells = nbformat.read(path, as_version=4).cells
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
            for c in cells if c.metadata.get("nbgrader", {}).get("grade")}


def one_wrong(source: Path, exercise: str) -> nbformat.NotebookNode:
    """The solved notebook with the solution of ``exercise`` replaced by a wrong answer."""
    nb = nbformat.read(source, as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{exercise}-solution"]
    lines = cell.source.splitlines()
    start, end = lines.index("### BEGIN SOLUTION"), lines.index("### END SOLUTION")
    cell.source = "\n".join(lines[: start + 1] + ["answer = -1"] + lines[end:])
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course directory after generate_assignment and autograde of three submissions per notebook."""
    course_dir = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "grading" / "nbgrader_config.py", course_dir)
    course.nbgrader_sources(ROOT / "notebooks", course_dir, list(ASSIGNMENTS))
    for name in ASSIGNMENTS:
        nbgrader(course_dir, "generate_assignment", name)
        source = course_dir / "source" / name / f"{name}.ipynb"
        submissions = {"solved": nbformat.read(source, as_version=4),
                       "untouched": nbformat.read(course_dir / "release" / name / f"{name}.ipynb", as_version=4)}
        if name == ASSIGNMENTS[0]:
            submissions["one-wrong"] = one_wrong(source, WRONG)
        for student, nb in submissions.items():
            folder = course_dir / "submitted" / student / name
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{name}.ipynb")
        nbgrader(course_dir, "autograde", name, "--create")
    return course_dir


def scores(course_dir: Path, student: str, name: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook(name, name, student)
        return {grade.name: grade.score for grade in submission.grades}


def test_release_copies_have_stubs_and_no_solutions(graded):
    for name in ASSIGNMENTS:
        release = nbformat.read(graded / "release" / name / f"{name}.ipynb", as_version=4)
        text = "\n".join(c.source for c in release.cells)
        assert "SOLUTION" not in text
        solutions = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert solutions and all(c.source.startswith("answer = ...  # YOUR CODE HERE") for c in solutions if
                                 c.source.splitlines()[0].startswith("answer"))
        assert sum("answer = ...  # YOUR CODE HERE" in c.source for c in solutions) == len(solutions)
        assert all(not c.outputs for c in release.cells if c.cell_type == "code")


def test_solved_notebooks_get_full_marks(graded):
    for name in ASSIGNMENTS:
        want = points(ROOT / "notebooks" / f"{name}.ipynb")
        assert len(want) >= 4
        assert scores(graded, "solved", name) == want


def test_an_untouched_release_copy_scores_zero(graded):
    for name in ASSIGNMENTS:
        got = scores(graded, "untouched", name)
        assert set(got) == set(points(ROOT / "notebooks" / f"{name}.ipynb"))
        assert all(score == 0 for score in got.values())


def test_one_wrong_answer_loses_exactly_that_exercises_points(graded):
    want = points(ROOT / "notebooks" / f"{ASSIGNMENTS[0]}.ipynb")
    want[WRONG] = 0.0
    assert scores(graded, "one-wrong", ASSIGNMENTS[0]) == want


def test_the_config_sets_the_course_stub_and_a_timeout_the_training_cells_need():
    from traitlets.config import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "grading")).load_config()
    assert config.ClearSolutions.code_stub == {"python": "answer = ...  # YOUR CODE HERE"}
    assert config.Execute.timeout >= 1200  # the slowest training cell (08) takes ~400 s on 2 CPU cores
