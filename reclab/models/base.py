"""The recommender contract every model in reclab follows (after scikit-learn, `implicit` and LensKit).

- ``__init__`` takes keyword-only arguments and only stores them; numeric parameters accept numpy
  scalars wherever a Python int or float is accepted;
- ``fit(train, *, valid=None) -> self`` learns from ``train`` alone; ``valid`` serves early
  stopping and model selection, nothing else. Learned state ends in ``_``;
- ``score(users, *, history=None) -> (len(users), n_items)`` float32 array, higher means recommend
  sooner, scored from ``history``: an `Interactions` on the model's ids holding what each user has
  done (default: the ``train`` the model was fitted on). ``score([])`` is a (0, n_items) array;
- ``recommend(users, k=10, *, history=None, exclude_seen=True) -> (items, scores)``: 1-D for one
  user, 2-D for many; ``exclude_seen`` masks the items of ``history``;
- ``similar_items(items, k=10) -> (items, scores)`` by cosine similarity of item vectors;
- ``save(path)`` / ``Class.load(path)``: parameters and arrays only, in a NumPy ``.npz`` file read
  with ``allow_pickle=False`` — loading never unpickles arbitrary objects. The training ratings are
  saved too: they are the default history. A file that is truncated, not written by `save`, of
  another class, or missing or mis-shaping an array is refused with a ValueError naming the path
  (each class declares the shapes of its arrays in ``_shapes``).

**Learning is apart from history** (as implicit's ``recommend(userid, user_items, ...)`` and
LensKit's queries): ``split.history(part)`` is what is known before a part — train for "valid",
train + valid for "test" — and `reclab.evaluate` passes it, so one fit serves both parts and the
validation item can never leak into its own evaluation. Models that score from a history (kNN,
EASE, content, Markov chain, the sequence models, Hybrid) read it directly; models with a learned
vector per user fold the history in (ALS: one least-squares solve per user; the gradient-trained
ones: a few steps on the user's vector with the items frozen), so every model gets the same
information. The same call serves a newcomer, a real-time event or a request to a service.

``fit`` refuses a ``valid`` (and ``score`` a ``history``) that is not on the same data as
``train`` (other users, items or ids): its rows would mean other people and other items.

Subclasses implement ``_fit(train, valid)`` and ``_score(users, history)`` (users and history
already checked) and ``_item_vectors()`` when items have a representation. Users and items are
0-based indices of the `Interactions` the model was fitted on.
"""
from __future__ import annotations

import inspect
import json
import numbers
import os
import weakref
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data import Interactions
from ..metrics import top_k


def changed_users(train: Interactions, history: Interactions) -> np.ndarray:
    """The users whose ratings in ``history`` differ from those in ``train`` (sorted indices).

    A factor model folds in exactly these users; the others keep the vectors learned in training.
    """
    if history is train:
        return np.zeros(0, np.int64)
    diff = abs(history.to_csr("rating") - train.to_csr("rating")) + abs(history.binary() - train.binary())
    return np.flatnonzero(np.asarray(diff.sum(axis=1)).ravel() > 0).astype(np.int64)


def _json_default(value):
    """numpy scalars (np.int64(8), np.float32(0.1), np.bool_) are written as the Python numbers they are."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"parameter value {value!r} of type {type(value).__name__} cannot be saved; "
                    "use numbers, strings, None, or lists of them.")


_HISTORY_COLUMNS = ("user", "item", "rating", "timestamp")


def _history_arrays(history: Interactions) -> dict[str, np.ndarray]:
    """The arrays that rebuild ``history`` (ratings columns and raw ids) for `Recommender.save`."""
    def plain(ids):  # raw ids as numbers or fixed-width strings: nothing that needs pickle
        ids = np.asarray(ids)
        return ids.astype(str) if ids.dtype == object else ids

    arrays = {f"train_.{c}": history.ratings[c].to_numpy() for c in _HISTORY_COLUMNS}
    arrays["train_.user_ids"], arrays["train_.item_ids"] = plain(history.user_ids), plain(history.item_ids)
    return arrays


def _history_from_arrays(arrays: dict, n_users: int, n_items: int, name: str) -> Interactions:
    """The training data a loaded model scores from by default (ratings and ids; no side tables)."""
    ratings = pd.DataFrame({c: arrays[f"train_.{c}"] for c in _HISTORY_COLUMNS})
    user_ids, item_ids = arrays["train_.user_ids"], arrays["train_.item_ids"]
    if len(user_ids) != n_users or len(item_ids) != n_items:
        raise ValueError(f"{len(user_ids)} user ids and {len(item_ids)} item ids for a model of "
                         f"{n_users} users and {n_items} items")
    items = pd.DataFrame({"item_id": item_ids})
    return Interactions(ratings, items, None, user_ids, item_ids, name=name, source="saved with the model")


def _saved(name: str, arrays: dict, scalars: dict) -> bool:
    """Whether `save` wrote attribute ``name``: a plain array, a sparse triple, a torch module or a scalar."""
    return (name in arrays or name in scalars or f"{name}.indptr" in arrays or f"{name}.user" in arrays
            or any(key.startswith(name + "/") for key in arrays))


@dataclass(frozen=True)
class Rule:
    """What one ``__init__`` argument may be; `Recommender.fit` checks every rule in ``_params``.

    Build rules with `Int`, `Real`, `Choice`, `Subset` and `Bool` (after scikit-learn's
    ``_parameter_constraints``): a class declares its rules once, in one table, instead of
    hand-writing a validator. numpy scalars count as the Python numbers they are.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    none: bool = False
    choices: tuple = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "subset":
            return "a non-empty list or tuple of distinct names among " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "True or False"
        what = "an int" if self.kind == "int" else "a finite number"
        if self.low is not None and self.high is not None:
            what += f" in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        elif self.low is not None:
            what += f" {'>' if self.low_open else '>='} {self.low:g}"
        elif self.high is not None:
            what += f" {'<' if self.high_open else '<='} {self.high:g}"
        return what + (", or None" if self.none else "")

    def check(self, name: str, value) -> None:
        if value is None and self.none:
            return
        if self.kind == "choice":
            ok = any(value == c and type(value) is type(c) for c in self.choices)
        elif self.kind == "subset":  # a list too: a saved tuple comes back from JSON as one
            ok = (isinstance(value, (list, tuple)) and len(value) > 0 and len(set(value)) == len(value)
                  and all(isinstance(v, str) and v in self.choices for v in value))
        elif self.kind == "bool":
            ok = isinstance(value, (bool, np.bool_))
        else:
            kind = numbers.Integral if self.kind == "int" else numbers.Real
            ok = isinstance(value, kind) and not isinstance(value, (bool, np.bool_)) and bool(np.isfinite(value))
            if ok and self.low is not None:
                ok = value > self.low if self.low_open else value >= self.low
            if ok and self.high is not None:
                ok = value < self.high if self.high_open else value <= self.high
        if not ok:
            raise ValueError(f"{name}={value!r} is not valid: it must be {self.describe()}.")


def Int(low: float | None = None, high: float | None = None, *, none: bool = False) -> Rule:
    """An int (numpy ints too) in [low, high]; ``none=True`` also allows None."""
    return Rule("int", low, high, none=none)


def Real(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
         none: bool = False) -> Rule:
    """A finite real number in the interval; ``low_open``/``high_open`` exclude the bounds."""
    return Rule("real", low, high, low_open, high_open, none)


def Choice(*choices) -> Rule:
    """One of the given values (compared with ==, of the same type)."""
    return Rule("choice", choices=tuple(choices))


def Subset(*choices) -> Rule:
    """A non-empty list or tuple of distinct values among ``choices`` (e.g. the metadata fields to read)."""
    return Rule("subset", choices=tuple(choices))


def Bool() -> Rule:
    """True or False."""
    return Rule("bool")


class NotFittedError(RuntimeError):
    """Raised when a model is used before ``fit``."""


class Recommender:
    """Base class: see the module docstring for the contract."""

    # names of learned attributes saved by `save` (besides n_users_, n_items_ and the training data)
    _state: tuple[str, ...] = ()
    # the shape `load` expects of each saved array: "U" = n_users_, "I" = n_items_, "U+1" = n_users_ + 1;
    # any other letter is a size that must agree wherever the same letter appears (e.g. "F" factors)
    _shapes: dict[str, tuple[str, ...]] = {}
    # the rule each __init__ argument must follow, checked by `fit` (see `Rule`)
    _params: dict[str, Rule] = {}

    # ------------------------------------------------------------------ public API
    def fit(self, train: Interactions, *, valid: Interactions | None = None) -> "Recommender":
        """Learn from ``train``; ``valid`` serves early stopping and model selection only. Returns self."""
        if not isinstance(train, Interactions):
            raise TypeError(f"train must be an Interactions (from reclab.data), got {type(train).__name__}.")
        if len(train) == 0:
            raise ValueError("train has no interactions; a recommender needs at least one to fit.")
        if valid is not None:
            train.check_same_ids(valid, "valid")
        self.check_params()
        self.n_users_, self.n_items_ = train.n_users, train.n_items
        self.train_ = train
        self._history_cache = weakref.WeakKeyDictionary()  # what was derived from each history
        self._fit(train, valid)
        return self

    @property
    def seen_(self) -> sp.csr_matrix:
        """The binary (n_users, n_items) matrix of the training pairs (a shared view: do not modify)."""
        return self._fitted("train_").binary()

    def score(self, users, *, history: Interactions | None = None) -> np.ndarray:
        """Scores of every item for ``users`` from ``history`` (default: the training data).

        Returns a float32 array (len(users), n_items); (0, n_items) for ``[]``.
        """
        users = self._check_users(users)
        history = self._check_history(history)
        if len(users) == 0:
            return np.zeros((0, self.n_items_), np.float32)
        scores = np.asarray(self._score(users, history), dtype=np.float32)
        if scores.shape != (len(users), self.n_items_):
            raise RuntimeError(
                f"{type(self).__name__}._score returned an array of shape {scores.shape} for {len(users)} users; "
                f"it must be ({len(users)}, {self.n_items_}). This is a bug in the model, not in your input."
            )
        return scores

    def recommend(self, users, k: int = 10, *, history: Interactions | None = None,
                  exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items and their scores from ``history``; its items are excluded by default.

        Returns ``(items, scores)`` of shape (k,) for one user (an int) and (len(users), k) for
        many; ``recommend([])`` gives two empty (0, k) arrays (int64 items, float32 scores). Equal
        scores are ranked by lower item index. Fewer than k unseen items → padded with item -1 and
        score -inf.

        Examples
        --------
        >>> model = EASE().fit(split.train, valid=split.valid)                       # doctest: +SKIP
        >>> items, scores = model.recommend([0, 1], k=5, history=split.history("test"))  # doctest: +SKIP
        >>> items.shape                                                               # doctest: +SKIP
        (2, 5)
        """
        single = np.ndim(users) == 0
        users = self._check_users(users)
        self._check_k(k, self.n_items_)
        history = self._check_history(history)
        if len(users) == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        scores = self.score(users, history=history)
        items, top = top_k(scores, k, exclude=history.binary()[users] if exclude_seen else None)
        return (items[0], top[0]) if single else (items, top)

    def similar_items(self, items, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each of ``items``, itself excluded.

        Similarity is the cosine of the model's item vectors, except for models that learn item-item
        weights: ItemKNN returns its own neighbours (its rows of ``sim_``), EASE the items each item
        raises most (its rows of ``B_``).
        """
        single = np.ndim(items) == 0
        items = self._check_ids(items, self._fitted("n_items_"), "item")
        self._check_k(k, self.n_items_ - 1)
        if len(items) == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        sims = np.array(self._item_similarities(items), dtype=np.float32)  # (n, n_items), a copy
        sims[np.arange(len(items)), items] = -np.inf  # an item is not "similar to itself"
        out_items, out_scores = top_k(sims, k)
        return (out_items[0], out_scores[0]) if single else (out_items, out_scores)

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """(len(items), n_items) similarities for `similar_items`: the cosine of item vectors.

        A model that learns item-item weights itself (ItemKNN's neighbours, EASE's B) overrides this
        to return them, so that `similar_items` lists the model's own neighbours rather than items
        whose weight rows look alike (a second-order similarity that favours popular items).
        """
        vectors = self._item_vectors()
        if vectors is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no item representation, so similar_items is undefined; "
                "use a model with item vectors (ItemKNN, EASE, BPR, ALS, SASRec, ...)."
            )
        vectors = vectors.toarray() if sp.issparse(vectors) else np.asarray(vectors, dtype=np.float32)
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return unit[items] @ unit.T

    def _per_history(self, history: Interactions, key: str, build):
        """``build(history)``, computed once per history object for this fit (e.g. a fold-in)."""
        cache = self.__dict__.setdefault("_history_cache", weakref.WeakKeyDictionary())
        views = cache.setdefault(history, {})
        key = f"{key} {self.get_params()!r}"  # a parameter changed since (fold_in_epochs=...) is a new entry
        if key not in views:
            views[key] = build(history)
        return views[key]

    def check_params(self) -> None:
        """ValueError naming the argument, its value and the rule, for every rule in ``_params``."""
        for name, rule in self._params.items():
            rule.check(name, getattr(self, name))

    # ------------------------------------------------------------------ persistence
    def get_params(self) -> dict:
        """The keyword arguments of ``__init__`` and their current values."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names if hasattr(self, name)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write parameters and learned arrays to ``path`` (an ``.npz`` file); returns the path."""
        self._fitted("n_items_")
        arrays = {}
        scalars = {"n_users_": self.n_users_, "n_items_": self.n_items_}
        arrays.update(_history_arrays(self.train_))
        scalars["train_.name"] = self.train_.name
        for name in tuple(self._state):
            value = getattr(self, name)
            if sp.issparse(value):
                value = value.tocsr()
                for part in ("data", "indices", "indptr"):
                    arrays[f"{name}.{part}"] = getattr(value, part)
                scalars[f"{name}.shape"] = list(value.shape)
            elif isinstance(value, np.ndarray):
                arrays[name] = value
            elif hasattr(value, "state_dict"):  # a torch module: its tensors, never the object
                for key, tensor in value.state_dict().items():
                    arrays[f"{name}/{key}"] = tensor.detach().cpu().float().numpy() if tensor.is_floating_point() else tensor.cpu().numpy()
            else:
                scalars[name] = value
        meta = {"class": type(self).__name__, "params": self.get_params(), "scalars": scalars}
        path = Path(path)
        with open(path, "wb") as f:  # np.savez would append ".npz" to a name without it
            np.savez_compressed(f, __meta__=np.array(json.dumps(meta, default=_json_default)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Recommender":
        """Read a model written by `save`; the file must hold this class.

        Raises
        ------
        ValueError
            When the file is truncated or not a model file written by `save`, holds another class,
            or lacks or mis-shapes one of the arrays this class needs; the message names the path.
        FileNotFoundError
            When there is no file at ``path``.
        """
        redo = f"save the model again with {cls.__name__}(...).fit(train).save(path), or pass the right path"
        try:
            with np.load(path, allow_pickle=False) as f:
                files = f.files
                if "__meta__" not in files:
                    raise ValueError(f"{path} is an .npz file, but not one written by Recommender.save "
                                     f"(it has no __meta__ entry, only {sorted(files)[:5]}); {redo}.")
                meta = json.loads(str(f["__meta__"]))
                arrays = {key: f[key] for key in files if key != "__meta__"}
        except FileNotFoundError:
            raise
        except ValueError as error:
            if str(error).startswith(str(path)):
                raise
            raise ValueError(f"{path} is not a reclab model file ({error}); {redo}.") from error
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, AttributeError, TypeError, KeyError) as error:
            # truncated archive, random bytes, a single .npy (np.load returns an array, not an archive), ...
            raise ValueError(f"{path} is truncated or not a reclab model file "
                             f"({type(error).__name__}: {error}); {redo}.") from error
        if not (isinstance(meta, dict) and isinstance(meta.get("class"), str) and isinstance(meta.get("params"), dict)
                and isinstance(meta.get("scalars"), dict)):
            raise ValueError(f"{path}: its __meta__ entry is not that of a reclab model (class, params, scalars); {redo}.")
        if meta["class"] != cls.__name__:
            raise ValueError(f"{path} holds a {meta['class']} model; load it with {meta['class']}.load(path).")
        try:
            model = cls(**meta["params"])
        except TypeError as error:
            raise ValueError(f"{path}: the saved parameters {sorted(meta['params'])} do not fit "
                             f"{cls.__name__}(...) ({error}); {redo}.") from error
        scalars = meta["scalars"]
        for name in ("n_users_", "n_items_"):
            value = scalars.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{path}: {name}={value!r} is not a positive count; the file is damaged; {redo}.")
        missing = [name for name in ("train_",) + tuple(cls._state) if not _saved(name, arrays, scalars)]
        if missing:
            raise ValueError(f"{path} lacks the learned state {missing} of a {cls.__name__}; the file is damaged "
                             f"or from another version of reclab; {redo}.")
        for name, value in scalars.items():
            if "." not in name:
                setattr(model, name, value)
        try:
            model.train_ = _history_from_arrays(arrays, model.n_users_, model.n_items_, scalars.get("train_.name", "train"))
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: the saved training data (train_.*) is damaged ({error}); {redo}.") from error
        sparse = {key.split(".")[0] for key in arrays if key.endswith(".indptr")}
        for name in sparse:
            try:
                matrix = sp.csr_matrix(
                    (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
                    shape=tuple(scalars[f"{name}.shape"]),
                )
            except (KeyError, ValueError, TypeError) as error:
                raise ValueError(f"{path}: the sparse array {name} is damaged ({error}); {redo}.") from error
            setattr(model, name, matrix)
        modules = {}
        for key, value in arrays.items():
            if "/" in key:
                modules.setdefault(key.split("/")[0], {})[key.split("/", 1)[1]] = value
            elif "." not in key:
                setattr(model, key, value)
        model._check_shapes(path, redo)
        if modules:
            try:
                model._restore_modules(modules)
            except (RuntimeError, KeyError, ValueError, TypeError) as error:
                raise ValueError(f"{path}: the saved network does not match a {cls.__name__} with the saved "
                                 f"parameters ({str(error).splitlines()[0]}); {redo}.") from error
        return model

    def _check_shapes(self, path, redo: str) -> None:
        """ValueError naming the array when a loaded array does not have the shape ``_shapes`` declares."""
        sizes = {"U": self.n_users_, "I": self.n_items_, "U+1": self.n_users_ + 1}
        shapes = dict(self._shapes)
        for name, dims in shapes.items():
            value = getattr(self, name, None)
            shape = getattr(value, "shape", None)
            if shape is None:
                continue  # not an array (e.g. a torch module, checked when it is rebuilt)
            expected = []
            ok = len(shape) == len(dims)
            for dim, size in zip(dims, shape):
                want = sizes.setdefault(dim, size)  # a free letter takes its first size
                expected.append(str(want))
                ok = ok and size == want
            if not ok:
                raise ValueError(
                    f"{path}: array {name} has shape {tuple(shape)}, but this {type(self).__name__} with "
                    f"{self.n_users_} users and {self.n_items_} items needs ({', '.join(expected)}); "
                    f"the file is damaged; {redo}."
                )

    # ------------------------------------------------------------------ hooks for subclasses
    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        raise NotImplementedError

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        raise NotImplementedError

    def _item_vectors(self):
        return None

    def _restore_modules(self, modules: dict[str, dict[str, np.ndarray]]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not know how to rebuild its torch modules.")

    # ------------------------------------------------------------------ checks
    def _fitted(self, attribute: str):
        if not hasattr(self, attribute):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(train) first.")
        return getattr(self, attribute)

    def _check_history(self, history: Interactions | None) -> Interactions:
        """The history to score from: the training data by default, else one on the same ids."""
        train = self._fitted("train_")
        if history is None or history is train:
            return train
        if not isinstance(history, Interactions):
            raise TypeError(f"history must be an Interactions on the model's ids (e.g. split.history('test')), "
                            f"got {type(history).__name__}.")
        try:
            train.check_same_ids(history, "history")
        except ValueError as error:
            raise ValueError(f"{error} A history must index the users and items this model was fitted on: "
                             "use split.history(part), or build it with train.with_ratings(...).") from None
        return history

    def _check_users(self, users) -> np.ndarray:
        return self._check_ids(users, self._fitted("n_users_"), "user")

    @staticmethod
    def _check_ids(ids, n: int, what: str) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(ids))
        if arr.ndim == 1 and arr.size == 0:  # [] is a float array to numpy; no ids is a valid request
            return np.zeros(0, np.int64)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"{what}s must be an int or a 1-D array of int {what} indices, got {np.asarray(ids).dtype} "
                f"of shape {np.shape(ids)}; map raw ids with data.{what}_index(...)."
            )
        bad = arr[(arr < 0) | (arr >= n)]
        if len(bad):
            raise KeyError(f"{what} index {int(bad[0])} is out of range: this model knows {what}s 0..{n - 1}.")
        return arr.astype(np.int64)

    @staticmethod
    def _check_k(k, n_items: int) -> None:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n_items:
            raise ValueError(f"k={k!r} must be an int from 1 to {n_items} (the number of items that can be returned).")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
