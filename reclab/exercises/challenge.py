"""Exercises that ask for judgement: improve a model on the validation part.

An `Exercise` has one right answer. A `Challenge` has many: the learner hands in a recommender
with settings of their choice, and the checker asks whether it ranks the validation movies better
than a stated starting model by at least a stated margin. It never trusts the learner's fit. It
builds a fresh copy from the model's parameters (components of a hybrid included), fits it on
``split.train`` (``split.valid`` only for early stopping, as every fit in the course) and scores
NDCG@10 on ``part="valid"``. The test part is never looked at: it stays for the notebook's final,
honest comparison, and a setting picked on validation can still be luck there.

A notebook registers its challenges like its exercises, and `reclab.exercises.check` runs them::

    ### BEGIN SOLUTION
    answer = ItemKNN(similarity="jaccard")
    ### END SOLUTION
    check("03-tune-knn", answer, split)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..data import Split
from ..models.base import Recommender
from . import Outcome

_CACHE: dict[tuple[str, int], float] = {}  # (challenge, id(split)) -> the starting model's score
_LAST: dict[str, tuple] = {}  # challenge -> (key, answer, split, outcome) of its last judgement


def _params(model: Any) -> str:
    """The parameters of ``model`` as text (a model changed in place judges again); "" for a non-model."""
    try:
        return repr(sorted(model.get_params().items())) if isinstance(model, Recommender) else ""
    except Exception:  # a model whose parameters cannot be read is judged every time
        return repr(object())


def fresh_copy(model: Recommender) -> Recommender:
    """An unfitted copy of ``model`` with the same parameters; recommenders among them are copied too.

    A `Hybrid` that was built with ``refit=False`` around fitted components gets fresh components
    and ``refit=True``, so that every part is fitted again on the data the checker chooses.
    """
    def copy(value):
        if isinstance(value, Recommender):
            return fresh_copy(value)
        if isinstance(value, (list, tuple)):
            return type(value)(copy(v) for v in value)
        return value

    params = {name: copy(value) for name, value in model.get_params().items()}
    if "refit" in params:
        params["refit"] = True
    return type(model)(**params)


def valid_ndcg(model: Recommender, split: Split, k: int = 10) -> float:
    """NDCG@k on ``split``'s validation part of a fresh copy of ``model`` fitted on ``split.train``."""
    from ..evaluation import evaluate

    fitted = fresh_copy(model).fit(split.train, valid=split.valid)  # valid serves early stopping only
    return float(evaluate(fitted, split, k, part="valid", metrics=("NDCG",))["value"].iloc[0])


@dataclass(frozen=True)
class Challenge:
    """Improve on a starting model, judged on validation NDCG@10.

    Parameters
    ----------
    name : the id notebooks pass to `check`, "NN-slug".
    question : one sentence with the task, the starting model and the margin.
    start : ``start() -> Recommender``, the unfitted starting model.
    margin : how far above the starting model's validation NDCG@10 the answer must score.
    allowed : the recommender classes an answer may be; empty for any.
    hint : one sentence printed when an answer falls short.
    points : what the challenge is worth when nbgrader grades it (two exercises' worth by default).
    """

    name: str
    question: str
    start: Callable[[], Recommender]
    margin: float
    allowed: tuple[type, ...] = ()
    hint: str = ""
    points: int = 2

    def evaluate(self, answer: Any, split: Any = None, *rest: Any) -> Outcome:
        """Judge ``answer`` on ``split``'s validation part; never raises.

        Judging fits a model, so the outcome for the same model object with the same parameters on
        the same split is remembered: the graded cell after the learner's cell does not fit again.
        """
        key = (self.name, id(answer), id(split), _params(answer))
        last = _LAST.get(self.name)
        if last is not None and last[0] == key and last[1] is answer and last[2] is split:
            return last[3]
        outcome = self._evaluate(answer, split, *rest)
        if not rest:
            _LAST[self.name] = (key, answer, split, outcome)  # holds the objects, so their ids stay theirs
        return outcome

    def _evaluate(self, answer: Any, split: Any = None, *rest: Any) -> Outcome:
        if answer is Ellipsis or answer is None:
            return Outcome("not attempted", f"⬜ {self.name}: not attempted yet. {self.question} "
                                            "Replace `...` after `answer =` with a model, then run the cell again.")
        if not isinstance(split, Split) or rest:
            return Outcome("wrong", f"❌ {self.name}: pass the notebook's split after the answer, as in "
                                    f"check({self.name!r}, answer, split).")
        allowed = self.allowed or (Recommender,)
        if not isinstance(answer, allowed):
            names = " or ".join(c.__name__ for c in allowed)
            return Outcome("wrong", f"❌ {self.name}: the answer is {_kind(answer)}; this challenge takes a model "
                                    f"of type {names} (unfitted is fine: the checker fits it on split.train).")
        try:
            key = (self.name, id(split))
            if key not in _CACHE:
                _CACHE[key] = valid_ndcg(self.start(), split)
            base, got = _CACHE[key], valid_ndcg(answer, split)
        except Exception as error:  # a bad setting of the learner's: report it, never stop the notebook
            return Outcome("wrong", f"❌ {self.name}: fitting {type(answer).__name__} on split.train failed "
                                    f"({type(error).__name__}: {error}).")
        target = base + self.margin
        numbers = (f"validation NDCG@10 {got:.4f}; the starting model scores {base:.4f}, the target is "
                   f"{target:.4f} (+{self.margin:g})")
        if got >= target:
            return Outcome("correct", f"✅ {self.name}: {numbers}. Refitted on split.train, judged on validation "
                                      "only; the test part decides whether the gain is more than luck.")
        lines = [f"❌ {self.name}: not there yet: {numbers}."]
        if self.hint:
            lines.append(f"   hint:     {self.hint}")
        return Outcome("wrong", "\n".join(lines))

    def check(self, answer: Any, *inputs: Any) -> None:
        """Print ✅, ❌ or ⬜ for ``answer``; never raises (see `evaluate`)."""
        print(self.evaluate(answer, *inputs).message)


def _kind(value: Any) -> str:
    if isinstance(value, type):
        return f"the class {value.__name__} itself (build one: {value.__name__}(...))"
    return f"of type {type(value).__name__}"
