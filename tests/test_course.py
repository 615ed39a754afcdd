"""reclab.course: navigation cells generated from titles, updated in place, idempotent."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from reclab import course

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ROOT = NOTEBOOKS.parent


def write(folder: Path, name: str, *sources: str) -> Path:
    """A notebook with one cell per source: markdown when it starts with 'md:', code otherwise."""
    nb = nbformat.v4.new_notebook()
    for s in sources:
        if s.startswith("md:"):
            nb.cells.append(nbformat.v4.new_markdown_cell(s[3:]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(s))
    path = folder / name
    nbformat.write(nb, path)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    write(tmp_path, "00-intro.ipynb", "md:# 00 · Intro\n\ntext", "x = 1")
    write(tmp_path, "01-middle.ipynb", "import os", "md:Some prose first.\n\n## Middle part ##", "md:# Not this one")
    write(tmp_path, "02-end.ipynb", "md:no heading at all", "y = 2")
    write(tmp_path, "scratch.ipynb", "md:# Not a course notebook")
    return tmp_path


def nav_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if course.is_nav(c)]


def test_course_notebooks_are_numbered_files_in_order(folder):
    assert [p.name for p in course.course_notebooks(folder)] == ["00-intro.ipynb", "01-middle.ipynb", "02-end.ipynb"]


def test_titles_come_from_the_first_markdown_heading(folder):
    assert course.notebook_title(folder / "00-intro.ipynb") == "00 · Intro"
    assert course.notebook_title(folder / "01-middle.ipynb") == "Middle part"
    assert course.notebook_title(folder / "02-end.ipynb") is None


def test_refresh_puts_nav_first_and_last_with_neighbours(folder):
    assert len(course.refresh(folder)) == 3
    first = nbformat.read(folder / "00-intro.ipynb", as_version=4)
    assert course.is_nav(first.cells[0]) and course.is_nav(first.cells[-1])
    assert first.cells[0].source == first.cells[-1].source
    assert first.cells[1].source.startswith("# 00 · Intro")  # the body keeps its order
    names = ("00-intro.ipynb", "01-middle.ipynb", "02-end.ipynb")
    top = [nav_cells(folder / name)[0].source.splitlines()[-1] for name in names]
    assert top[0] == "[Contents](../README.md) | [Middle part >](01-middle.ipynb)"
    assert top[1] == "[< 00 · Intro](00-intro.ipynb) | [Contents](../README.md) | [02-end >](02-end.ipynb)"
    assert top[2] == "[< Middle part](01-middle.ipynb) | [Contents](../README.md)"
    assert nav_cells(folder / "scratch.ipynb") == []


def test_refresh_is_idempotent_and_leaves_fresh_files_alone(folder):
    course.refresh(folder)
    before = {p: p.read_bytes() for p in folder.glob("*.ipynb")}
    assert course.refresh(folder) == []
    assert {p: p.read_bytes() for p in folder.glob("*.ipynb")} == before


def test_refresh_replaces_nav_cells_in_place(folder):
    course.refresh(folder)
    write(folder, "01-middle.ipynb", "md:# Renamed middle")  # a retitled notebook (its nav is gone too)
    changed = course.refresh(folder)
    assert sorted(p.name for p in changed) == ["00-intro.ipynb", "01-middle.ipynb", "02-end.ipynb"]
    for path in course.course_notebooks(folder):
        cells = nbformat.read(path, as_version=4).cells
        assert [course.is_nav(c) for c in cells].count(True) == 2
        assert "Renamed middle" in cells[0].source or path.name == "01-middle.ipynb"
        nbformat.validate(nbformat.read(path, as_version=4))


def test_nav_cells_have_fixed_ids_and_the_tag(folder):
    course.refresh(folder)
    cells = nav_cells(folder / "00-intro.ipynb")
    assert [c["id"] for c in cells] == list(course.NAV_IDS)
    assert all(c.metadata["tags"] == ["nav"] for c in cells)


def test_a_title_in_a_nav_cell_is_not_the_notebook_title(folder):
    course.refresh(folder)
    nb = nbformat.read(folder / "00-intro.ipynb", as_version=4)
    nb.cells[0].source = "# A heading inside the nav cell"
    assert course.notebook_title(nb) == "00 · Intro"


def test_check_mode_writes_nothing(folder):
    before = {p: p.read_bytes() for p in folder.glob("*.ipynb")}
    assert len(course.refresh(folder, check=True)) == 3
    assert {p: p.read_bytes() for p in folder.glob("*.ipynb")} == before


def test_command_line(folder, capsys):
    assert course.main([str(folder), "--check"]) == 1
    assert "stale navigation" in capsys.readouterr().err
    assert course.main([str(folder)]) == 0
    assert "updated 3 of 3" in capsys.readouterr().out
    assert course.main([str(folder), "--check"]) == 0
    assert course.main([str(folder / "missing")]) == 2
    assert course.main([str(folder), "--contents"]) == 0
    assert "- [00 · Intro](notebooks/00-intro.ipynb)" in capsys.readouterr().out


def test_course_notebooks_have_fresh_navigation():
    # fails when a notebook was added, renamed or retitled: run `python -m reclab.course`
    assert course.refresh(NOTEBOOKS, check=True) == []


# ---------------------------------------------------------------- nbgrader metadata and graded cells
EXERCISE = '''setup = 1
### BEGIN SOLUTION
answer = 2 * setup
### END SOLUTION
check("zz-double", answer, setup)'''
POINTS = {"zz-double": 3, "zz-other": 1}


def exercise_notebook(*extra: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T\n\nWrite your code in the cell's solution block."),
                nbformat.v4.new_code_cell(EXERCISE), *(nbformat.v4.new_code_cell(s) for s in extra)]
    return nb


def test_an_exercise_cell_becomes_a_solution_cell_followed_by_a_locked_graded_cell():
    nb = exercise_notebook()
    assert course.set_exercises(nb, POINTS) == ["zz-double"]
    solution, graded = nb.cells[1], nb.cells[2]
    assert solution.source == EXERCISE  # the learner's cell is unchanged
    assert solution.metadata["nbgrader"] == {"grade": False, "grade_id": "zz-double-solution", "locked": False,
                                             "schema_version": 3, "solution": True, "task": False}
    assert graded.metadata["nbgrader"] == {"grade": True, "grade_id": "zz-double", "locked": True, "points": 3,
                                           "schema_version": 3, "solution": False, "task": False}
    assert graded["id"] == "zz-double-graded" and graded.metadata["tags"] == ["graded"]
    assert graded.source.splitlines()[-1] == 'grade("zz-double", answer, setup)'  # the checker's own arguments
    nbformat.validate(nb)


def test_regenerating_is_idempotent_and_follows_the_exercise_cell():
    nb = exercise_notebook()
    course.set_exercises(nb, POINTS)
    once = nbformat.writes(nb)
    course.set_exercises(nb, POINTS)
    assert nbformat.writes(nb) == once
    nb.cells[1].source = EXERCISE.replace("answer, setup)", "answer, setup, 7)")  # the checker's call changed
    course.set_exercises(nb, {"zz-double": 1})
    assert [course.is_graded(c) for c in nb.cells] == [False, False, True]
    assert nb.cells[2].source.endswith('grade("zz-double", answer, setup, 7)')
    assert nb.cells[2].metadata["nbgrader"]["points"] == 1


def test_the_graded_cell_raises_only_when_the_answer_is_wrong():
    from reclab.exercises import EXERCISES, Exercise, register

    register(Exercise("zz-double", "Twice setup?", solution=lambda setup: 2 * setup))
    try:
        nb = exercise_notebook()
        course.set_exercises(nb, POINTS)
        graded = nb.cells[2].source
        exec(graded, {"answer": 2, "setup": 1})
        for wrong in (3, ...):
            with pytest.raises(AssertionError):
                exec(graded, {"answer": wrong, "setup": 1})
    finally:
        EXERCISES.pop("zz-double")


@pytest.mark.parametrize(
    "cells, match",
    [
        (["md:Put your code between `### BEGIN SOLUTION` and `### END SOLUTION`."], "outside an exercise"),
        (["x = 1  # END SOLUTION"], "outside an exercise"),
        ([EXERCISE.replace('check("zz-double", answer, setup)', "print(answer)")], "found 0"),
        ([EXERCISE.replace("check(\"zz-double\", answer,", "check(\"zz-double\", net,")], "must read `answer`"),
        ([EXERCISE.replace("zz-double", "zz-unknown")], "no registered exercise"),
        ([EXERCISE], "checked twice"),
        (["### BEGIN SOLUTION\nanswer = (\n### END SOLUTION\ncheck('zz-other', answer)"], "not valid Python"),
    ],
)
def test_cells_nbgrader_would_misread_are_refused_with_the_cell_named(cells, match):
    nb = exercise_notebook()
    for s in cells:
        nb.cells.append(nbformat.v4.new_markdown_cell(s[3:]) if s.startswith("md:") else nbformat.v4.new_code_cell(s))
    with pytest.raises(ValueError, match=match) as error:
        course.set_exercises(nb, POINTS, name="07-x.ipynb")
    assert "07-x.ipynb, cell" in str(error.value)


def test_every_course_exercise_is_graded_from_its_own_cell():
    points = course.exercise_points()
    graded_names = []
    for path in course.course_notebooks(NOTEBOOKS):
        cells = nbformat.read(path, as_version=4).cells
        for i, cell in enumerate(cells):
            if "### BEGIN SOLUTION" in cell.source:
                name = cell.metadata["nbgrader"]["grade_id"].removesuffix("-solution")
                graded = cells[i + 1]
                assert course.is_graded(graded) and graded.metadata["nbgrader"]["grade_id"] == name, path.name
                assert graded.metadata["nbgrader"]["points"] == points[name]
                assert name.startswith(path.name[:3])  # an exercise belongs to its notebook
                graded_names.append(name)
    assert sorted(graded_names) == sorted(points)  # every registered exercise, each once


def test_nbgrader_sources_copy_one_assignment_per_notebook_and_keep_an_edited_one(folder, tmp_path):
    course_dir = tmp_path / "grading"
    written = course.nbgrader_sources(folder, course_dir, ["00-intro", "01-middle.ipynb"])
    assert written == [course_dir / "source" / "00-intro" / "00-intro.ipynb",
                       course_dir / "source" / "01-middle" / "01-middle.ipynb"]
    assert written[0].read_bytes() == (folder / "00-intro.ipynb").read_bytes()
    written[0].write_text("edited by the instructor")
    with pytest.raises(FileExistsError, match="00-intro"):
        course.nbgrader_sources(folder, course_dir)
    assert written[0].read_text() == "edited by the instructor"
    assert len(course.nbgrader_sources(folder, course_dir, force=True)) == 3
    with pytest.raises(FileNotFoundError, match="nope"):
        course.nbgrader_sources(folder, course_dir, ["nope"])


def test_make_lab_serves_every_link_of_the_navigation_cells():
    # `make lab` served notebooks/, so every notebook's "Contents" link (../README.md) was a 404
    import re

    from student import make_lab_command

    folder, opened = make_lab_command()
    served = (NOTEBOOKS.parent / folder).resolve()
    assert opened == ["notebooks/00-welcome.ipynb"]
    for path in course.course_notebooks(NOTEBOOKS):
        for cell in nbformat.read(path, as_version=4).cells:
            if course.is_nav(cell):
                for target in re.findall(r"\]\(([^)]+)\)", cell.source):
                    resolved = (path.parent / target).resolve()
                    assert resolved.is_file() and resolved.is_relative_to(served), (path.name, target, served)


def test_binder_link_builds_the_repository_and_opens_the_first_notebook():
    from urllib.parse import parse_qs, urlsplit

    url = course.binder_url("some-one/reclab.course", "v1.0")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "mybinder.org", "/v2/gh/some-one/reclab.course/v1.0")
    assert parse_qs(parts.query) == {"urlpath": ["lab/tree/notebooks/00-welcome.ipynb"]}
    assert (ROOT / parse_qs(parts.query)["urlpath"][0].removeprefix("lab/tree/")).is_file()
    assert course.binder_url("a/b", "feature/x").split("?")[0].endswith("/a/b/feature%2Fx")


@pytest.mark.parametrize("repo, ref", [("reclab", "HEAD"), ("a/b/c", "HEAD"), ("a/b.git", "HEAD"),
                                       ("a b/c", "HEAD"), ("a/b", "../x"), ("a/b", "")])
def test_a_bad_repository_or_ref_is_refused_by_name(repo, ref):
    with pytest.raises(ValueError, match="repo=" if ref in ("HEAD",) else "ref="):
        course.binder_url(repo, ref)


def test_badges_go_between_the_markers_once_and_the_readme_has_them(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\n{course.BADGES_START}\n{course.BADGES_END}\n\ntext\n")
    assert course.main(["--badges", "me/reclab@main", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "](https://mybinder.org/v2/gh/me/reclab/main?urlpath=" in text and text.endswith("\n\ntext\n")
    assert course.write_badges(readme, "me/reclab", "main") is False  # idempotent
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="readme="):
        course.write_badges(readme, "me/reclab")
    shipped = (ROOT / "README.md").read_text()
    assert shipped.count(course.BADGES_START) == 1 and shipped.index(course.BADGES_START) < shipped.index(course.BADGES_END)
