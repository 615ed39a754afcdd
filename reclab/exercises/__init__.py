"""Exercise checkers for the notebooks, their autograded twins, and the instructor's student copies.

In a notebook, an exercise is a code cell in the nbgrader convention followed by a checker call::

    ### BEGIN SOLUTION
    answer = int((data.user_counts() < 30).sum())
    ### END SOLUTION
    check("00-light-users", answer, data)

`check` prints one line that starts with ✅ (right), ❌ (wrong: with the input, the expected and the
got) or ⬜ (not attempted: the answer is still the stub ``...`` or ``None``). It never raises, so
a wrong answer never stops a notebook that is run top to bottom. The expected value is computed
by reclab from the same inputs the learner used, never hard-coded, so an exercise works on any
dataset size.

`grade` takes the same arguments and raises `AssertionError` (with the same message) unless the
answer is right: it is what the autograded test cell after each exercise calls, the cell that
``python -m reclab.course`` generates with its nbgrader metadata (points, ``grade_id``). The
learner's cell only prints; the graded cell is what nbgrader scores.

The exercises of notebooks 00 are defined here; those of each later notebook live in a module of
this package, e.g. `reclab.exercises.content` for notebook 02, imported by the notebook (importing
registers them). A notebook adds its exercises with `register`::

    register(Exercise("03-n-neighbours", "How many ...?", solution=lambda data: ...))

`make_student_copy` (also ``python -m reclab.exercises SRC DST``, for one notebook or a whole
folder) replaces every solution block by ``answer = ...  # YOUR CODE HERE`` (nbgrader's place
for the learner's code, with the course's stub), drops the graded cells and clears the outputs.
"""
from __future__ import annotations

import argparse
import math
import numbers
import os
import re
import reprlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..course import BEGIN, END, course_notebooks, is_graded
from ..data import Interactions
from ..data.statistics import top_share

STUB = "answer = ...  # YOUR CODE HERE"  # what replaces a solution block, in our copies and nbgrader's

_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlist = 60, 60, 8


@dataclass(frozen=True)
class Outcome:
    """What a check found: ``status`` is "correct", "wrong" or "not attempted"; ``message`` is the line printed."""

    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "correct"


@dataclass(frozen=True)
class Exercise:
    """One exercise: a name, the question, and how reclab computes the expected answer.

    Parameters
    ----------
    name : the id notebooks pass to `check`, "NN-slug" (NN = notebook number).
    question : one sentence, shown when the exercise is not attempted yet.
    solution : ``solution(*inputs) -> expected``; inputs are what the notebook passes after the
        answer (usually the `Interactions` it loaded).
    rtol, atol : tolerance for numbers and arrays (`math.isclose` / `numpy.allclose` semantics).
    unordered : compare sequences as sets (e.g. "which items ...?").
    hint : one sentence printed with a wrong answer.
    points : what the exercise is worth when nbgrader grades it.
    """

    name: str
    question: str
    solution: Callable[..., Any]
    rtol: float = 1e-6
    atol: float = 0.0
    unordered: bool = False
    hint: str = ""
    points: int = 1

    def evaluate(self, answer: Any, *inputs: Any) -> Outcome:
        """Compare ``answer`` with ``solution(*inputs)``; never raises."""
        if answer is Ellipsis or answer is None:
            return Outcome(
                "not attempted",
                f"⬜ {self.name}: not attempted yet. {self.question} "
                "Replace `...` after `answer =` with your code, then run the cell again.",
            )
        try:
            expected = self.solution(*inputs)
        except Exception as error:  # the inputs are the learner's too; report, don't crash
            return Outcome(
                "wrong",
                f"❌ {self.name}: could not compute the expected answer from the input "
                f"{_describe(inputs)} ({type(error).__name__}: {error}). "
                "Pass the data the notebook loaded, as in the original cell.",
            )
        try:
            same, note = _compare(expected, answer, self.rtol, self.atol, self.unordered)
        except Exception as error:  # an answer whose == or float() misbehaves is simply wrong
            same, note = False, f"it could not be compared ({type(error).__name__}: {error})"
        if same:
            return Outcome("correct", f"✅ {self.name}: correct! {_show(answer)}")
        lines = [
            f"❌ {self.name}: not quite.",
            f"   input:    {_describe(inputs)}",
            f"   expected: {_show(expected)}",
            f"   got:      {_show(answer)}",
        ]
        if note:
            lines.append(f"   note:     {note}")
        if self.hint:
            lines.append(f"   hint:     {self.hint}")
        return Outcome("wrong", "\n".join(lines))

    def check(self, answer: Any, *inputs: Any) -> None:
        """Print ✅, ❌ or ⬜ for ``answer``; never raises (see `evaluate`)."""
        print(self.evaluate(answer, *inputs).message)


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Make ``exercise`` available to `check` under its name, and return it.

    Registering the same question again replaces the old entry, so a notebook cell that defines
    an exercise can be re-run; a *different* question under a taken name is an error.
    """
    old = EXERCISES.get(exercise.name)
    if old is not None and old.question != exercise.question:
        raise ValueError(
            f"an exercise named {exercise.name!r} exists already ({old.question!r}); "
            "pick another name, e.g. prefixed with your notebook's number."
        )
    EXERCISES[exercise.name] = exercise
    return exercise


def check(name: str, answer: Any, *inputs: Any) -> None:
    """Print whether ``answer`` is right for the exercise ``name``, given the notebook's ``inputs``.

    Never raises: an unknown name, a stub answer, an answer of the wrong type or shape each print
    one line and return.

    Examples
    --------
    >>> from reclab.data import make_synthetic
    >>> data = make_synthetic(seed=0)
    >>> check("00-liked-density", ..., data)  # doctest: +ELLIPSIS
    ⬜ 00-liked-density: not attempted yet. ...
    """
    try:
        exercise = EXERCISES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(EXERCISES))
        print(f"❌ there is no exercise named {_short.repr(name)}; the known ones are: {known}.")
        return
    exercise.check(answer, *inputs)


def grade(name: str, answer: Any, *inputs: Any) -> None:
    """Raise `AssertionError` unless ``answer`` is right for the exercise ``name``: the graded cell's call.

    Same arguments and the same judgement as `check`, but a wrong answer, a stub (not attempted)
    or an unknown name raises, with the message `check` would print, so that nbgrader's autograde
    gives the exercise zero points. Prints nothing when the answer is right.

    Examples
    --------
    >>> from reclab.data import make_synthetic
    >>> data = make_synthetic(seed=0)
    >>> grade("00-light-users", ..., data)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: ⬜ 00-light-users: not attempted yet. ...
    """
    exercise = EXERCISES.get(name) if isinstance(name, str) else None
    if exercise is None:
        raise AssertionError(f"there is no exercise named {_short.repr(name)}; the known ones are: "
                             f"{', '.join(sorted(EXERCISES))}.")
    outcome = exercise.evaluate(answer, *inputs)
    if not outcome.ok:
        raise AssertionError(outcome.message)


# ------------------------------------------------------------------------------ comparing
def _scalar(value: Any) -> Any:
    """A numpy/torch/pandas scalar or one-element 0-d array as a Python scalar; else unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    ndim = getattr(value, "ndim", None)
    if ndim == 0 and hasattr(value, "item"):  # 0-d numpy array or torch tensor
        return value.item()
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _compare(expected: Any, got: Any, rtol: float, atol: float, unordered: bool) -> tuple[bool, str]:
    """(same, note): whether ``got`` matches ``expected``, and why not when it helps to say."""
    expected, got = _scalar(expected), _scalar(got)
    if _is_number(expected):
        if not _is_number(got):
            size = getattr(got, "size", None) if not isinstance(got, str) else None
            if size == 1:
                return False, f"expected one number, got {_kind(got)} holding one; take it out with .item()."
            return False, f"expected a number, got {_kind(got)}."
        if math.isnan(float(got)):
            return False, "the answer is NaN: a division by zero, or an empty selection?"
        if math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            return True, ""
        if expected and math.isclose(float(got), 100 * float(expected), rel_tol=rtol, abs_tol=atol):
            return False, "that is the percentage; give the fraction (between 0 and 1)."
        return False, ""
    if isinstance(expected, str):
        if not isinstance(got, str):
            return False, f"expected a str, got {_kind(got)}."
        # titles are what people retype: ignore case and runs of spaces, not spelling
        norm = lambda s: " ".join(s.split()).casefold()  # noqa: E731
        return norm(got) == norm(expected), ""
    if isinstance(expected, (list, tuple, set, np.ndarray, pd.Series)):
        if isinstance(got, (str, bytes)) or not hasattr(got, "__len__"):
            return False, f"expected a sequence of {len(expected)} values, got {_kind(got)}."
        want, have = np.asarray(list(expected)), np.asarray(list(got))
        if unordered:
            want, have = np.sort(want, axis=None), np.sort(have, axis=None)
        if want.shape != have.shape:
            return False, f"expected shape {want.shape}, got shape {have.shape}."
        if want.dtype.kind in "biuf" and have.dtype.kind in "biuf":
            return bool(np.allclose(have, want, rtol=rtol, atol=atol)), ""
        return bool(np.array_equal(have, want)), ""
    return bool(got == expected), ""


def _kind(value: Any) -> str:
    """"a str", "an ndarray of shape (2,)": the type of a wrong answer, for the note."""
    name = type(value).__name__
    try:
        extra = f" of shape {tuple(value.shape)}" if hasattr(value, "shape") else ""
    except Exception:  # a .shape that is no sequence, or raises: say nothing about it
        extra = ""
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}{extra}"


def _show(value: Any) -> str:
    """A short, safe text for a value: floats (alone or in a list) to 6 significant digits, never a memory address."""
    try:
        value = _scalar(value)
        if isinstance(value, float):
            return f"{value:.6g}"
        if _is_number(value) or isinstance(value, str):
            return _short.repr(value)
        if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
            items = [float(f"{x:.6g}") if isinstance(x, float) else x for x in np.asarray(list(value)).tolist()]
            return f"{type(value).__name__} {_short.repr(items)}"
        text = repr(value)
        if re.search(r"0x[0-9a-fA-F]+", text):  # default object reprs print an address
            return _kind(value)
        return _short.repr(value)
    except Exception:  # a value whose repr raises is still shown as something
        return _kind(value)


def _describe(inputs: tuple) -> str:
    parts = []
    for x in inputs:
        if isinstance(x, Interactions):
            parts.append(f"{x.name} ({len(x):,} ratings, {x.n_users:,} users, {x.n_items:,} items)")
        else:
            parts.append(_show(x))
    return ", ".join(parts) if parts else "(none)"


# ------------------------------------------------------------------------------ 00 welcome
def _liked_density(data: Interactions) -> float:
    return data.with_ratings(data.ratings[data.ratings["rating"] >= 4]).density


def _light_users(data: Interactions, threshold: int = 30) -> int:
    return int((data.user_counts() < threshold).sum())


def _most_rated_title(data: Interactions) -> str:
    # argmax takes the lowest index among tied items: the same tie-break as a stable sort
    return str(data.items["title"].iloc[int(np.argmax(data.item_counts()))])


register(Exercise(
    "00-liked-density",
    "What share of the user × item matrix holds a rating of 4 stars or more?",
    solution=_liked_density,
    rtol=1e-4,
    hint="keep the rows with rating >= 4, count distinct (user, item) pairs, divide by n_users * n_items.",
))
register(Exercise(
    "00-top-users-share",
    "What share of all ratings comes from the 20% most active users (int(0.2 * data.n_users) users)?",
    solution=lambda data: top_share(data, 0.2, by="user"),
    rtol=1e-4,
    hint="count ratings per user, sort descending, sum the first int(0.2 * data.n_users), divide by the total.",
))
register(Exercise(
    "00-light-users",
    "How many users have fewer than 30 ratings?",
    solution=_light_users,
    hint="count ratings per user (value_counts or groupby), then count the counts below 30.",
))
register(Exercise(
    "00-most-rated-title",
    "What is the title of the movie with the most ratings?",
    solution=_most_rated_title,
    hint="find the item with the most ratings, then look its title up in data.items.",
))


# ------------------------------------------------------------------------------ student copies
def strip_solutions(source: str, cell_type: str = "code", where: str = "cell") -> str:
    """``source`` with each BEGIN/END SOLUTION block replaced by the stub (code) or a prompt (markdown).

    A code block becomes `STUB`, ``answer = ...  # YOUR CODE HERE``, indented like the markers:
    the same stub nbgrader writes with the course's configuration, and the name every checker reads.

    Raises
    ------
    ValueError
        When a block is opened and not closed, or closed without being opened; ``where`` names
        the cell in the message.
    """
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"{where}: a second '{BEGIN}' before '{END}'; close the first block.")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{STUB}" if cell_type == "code" else "YOUR ANSWER HERE")
        elif marker == END:
            if not inside:
                raise ValueError(f"{where}: '{END}' without '{BEGIN}'; add the opening marker.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' is never closed; add '{END}' after the solution.")
    return "\n".join(out)


def make_student_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write the learner's version of notebook ``src`` to ``dst``: solutions stubbed, outputs cleared.

    Every code cell's ``### BEGIN SOLUTION`` … ``### END SOLUTION`` block becomes `STUB`,
    ``answer = ...  # YOUR CODE HERE``; markdown blocks become "YOUR ANSWER HERE". The graded
    cells (nbgrader's, which raise on a wrong or missing answer) are dropped: a learner working
    alone has the printing checker, and a copy run top to bottom shows ⬜ for every exercise
    instead of stopping at the first one. nbgrader metadata, outputs and execution counts are
    cleared; every other cell is kept as it is.

    Examples
    --------
    >>> make_student_copy("notebooks/00-welcome.ipynb", "student/00-welcome.ipynb")  # doctest: +SKIP
    """
    import nbformat

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ValueError(f"dst={str(dst)!r} is the source notebook itself; write the copy elsewhere.")
    nb = nbformat.read(src, as_version=4)
    cells = []
    for i, cell in enumerate(nb.cells):
        if is_graded(cell):  # the cells reclab.course generates
            continue
        if BEGIN in cell.source or END in cell.source:
            cell.source = strip_solutions(cell.source, cell.cell_type, where=f"{src.name}, cell {i}")
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        cells.append(cell)
    nb.cells = cells
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    return dst


def make_student_copies(src: str | os.PathLike, dst: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Student copies of every course notebook (``NN-slug.ipynb``) of folder ``src``, written into ``dst``.

    A notebook already in ``dst`` may hold a learner's work, so it is never overwritten unless
    ``force``: the call then writes nothing and raises, naming the files. Nothing else in ``dst``
    is touched.
    """
    src, dst = Path(src), Path(dst)
    paths = course_notebooks(src)
    if not paths:
        raise FileNotFoundError(f"src={str(src)!r} holds no course notebook (NN-slug.ipynb); "
                                "pass the notebooks/ folder.")
    if dst.resolve() == src.resolve():
        raise ValueError(f"dst={str(dst)!r} is the source folder itself; write the copies elsewhere, e.g. student/.")
    taken = [dst / p.name for p in paths if (dst / p.name).exists()]
    if taken and not force:
        names = ", ".join(p.name for p in taken[:3]) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        raise FileExistsError(
            f"{len(taken)} student copies exist already in {str(dst)!r} ({names}) and may hold a learner's "
            "work; move them away, or pass force=True (--force) to overwrite them."
        )
    return [make_student_copy(p, dst / p.name) for p in paths]


def main(argv: list[str] | None = None) -> int:
    """``python -m reclab.exercises SRC DST [--force]``: student copies of one notebook or of a folder."""
    parser = argparse.ArgumentParser(
        prog="python -m reclab.exercises",
        description="Write student copies: solutions stubbed, graded cells dropped, outputs cleared.",
    )
    parser.add_argument("src", help="the instructor's notebook, or a folder of them (e.g. notebooks)")
    parser.add_argument("dst", help="where to write the copy (a folder when SRC is one, e.g. student)")
    parser.add_argument("--force", action="store_true", help="overwrite copies that exist already in DST")
    args = parser.parse_args(argv)
    try:
        if Path(args.src).is_dir():
            written = make_student_copies(args.src, args.dst, force=args.force)
            print(f"wrote {len(written)} student copies into {args.dst}")
        else:
            if Path(args.dst).exists() and not args.force:
                raise FileExistsError(f"{args.dst!r} exists already and may hold a learner's work; "
                                      "move it away or pass --force.")
            print(f"wrote {make_student_copy(args.src, args.dst)}")
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    return 0
