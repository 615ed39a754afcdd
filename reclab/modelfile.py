"""Open a saved model file without knowing its class, and find the data it was trained on.

`Recommender.load` needs the class (``EASE.load(path)``) and refuses a file of another one; a command
line or a service is handed a path only. `load_model` reads the class name the file records and
loads it with that class (one of `reclab.models`, never an arbitrary import), and `data_for` loads
the dataset whose name the file records (``ml-100k/train`` → ``load_movielens("100k")``) and checks
that it indexes the same users and items as the model.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from . import models
from .data import SIZES, Interactions, load_movielens
from .models.base import Recommender


def _class_name(path: Path) -> str:
    """The class a file written by `Recommender.save` records; ValueError for anything else."""
    fix = "pass a file written by `reclab train` or by model.save(path)"
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:  # ValueError: text, or a pickle
        raise ValueError(f"{path} is truncated or not a reclab model file ({type(error).__name__}); {fix}.") from None
    if not hasattr(loaded, "files"):  # a single .npy array
        raise ValueError(f"{path} is a single NumPy array, not a reclab model file; {fix}.")
    with loaded as f:
        if "__meta__" not in f.files:
            raise ValueError(f"{path} is not a reclab model file (no __meta__ entry); {fix}.")
        try:
            meta = json.loads(str(f["__meta__"]))
        except (OSError, ValueError, zipfile.BadZipFile) as error:  # a damaged entry, or JSON that is not
            raise ValueError(f"{path} is truncated or not a reclab model file ({type(error).__name__}); {fix}.") from None
    name = meta.get("class") if isinstance(meta, dict) else None
    if not isinstance(name, str) or name not in models.__all__ or name in ("NotFittedError", "Recommender"):
        raise ValueError(f"{path} records the class {name!r}, which is not a reclab model; {fix}.")
    return name


def load_model(path: str | os.PathLike) -> Recommender:
    """The model saved at ``path``, loaded with the class the file records.

    Raises FileNotFoundError when there is no file, ValueError (naming the path) when it is not a
    reclab model file, is truncated or damaged (`Recommender.load` checks every array).

    Examples
    --------
    >>> model = load_model("ease.npz")   # doctest: +SKIP
    >>> type(model).__name__             # doctest: +SKIP
    'EASE'
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist; train one with "
                                f"`reclab train --model EASE --out {path}` or pass the right path.")
    cls = getattr(models, _class_name(path))
    if not (isinstance(cls, type) and issubclass(cls, Recommender)):
        raise ValueError(f"{path} records the class {cls.__name__!r}, which is not a reclab model; pass a file "
                         "written by `reclab train` or by model.save(path).")
    return cls.load(path)


def trained_on(model: Recommender) -> str | None:
    """The MovieLens size (e.g. "100k") the model's training data came from, or None when it is not one.

    `leave_last_out` names its parts ``<dataset>/train``; `Recommender.save` keeps that name.
    """
    dataset = model.train_.name.split("/", 1)[0]
    size = dataset.removeprefix("ml-")
    return size if dataset.startswith("ml-") and size in SIZES else None


def data_for(model: Recommender, data: str | None = None) -> Interactions:
    """The dataset ``model`` was trained on: ``data`` (a MovieLens size) or the one its file records.

    Raises ValueError when the file records no MovieLens dataset and ``data`` is None, when
    ``data`` differs from the recorded one, or when the loaded data indexes other users or items.

    Examples
    --------
    >>> data = data_for(load_model("ease.npz"))   # doctest: +SKIP
    >>> data.name                                 # doctest: +SKIP
    'ml-100k'
    """
    recorded = trained_on(model)
    what = f"this {type(model).__name__} was trained on {model.train_.name.split('/', 1)[0]!r}"
    if data is None and recorded is None:
        raise ValueError(f"{what}, which is not a MovieLens dataset the command line can load; "
                         f"pass --data with one of {', '.join(SIZES)} if it was.")
    if data is not None and data not in SIZES:
        raise ValueError(f"--data {data!r} is not a MovieLens size; choose one of {', '.join(SIZES)}.")
    if data is not None and recorded is not None and data != recorded:
        raise ValueError(f"{what}, not on ml-{data}; pass --data {recorded} or leave --data out.")
    loaded = load_movielens(data or recorded)
    try:
        model.train_.check_same_ids(loaded, "data")
    except ValueError as error:
        raise ValueError(f"{what}, whose users and items differ from {loaded.name}'s ({error}); "
                         "pass the data the model was trained on.") from None
    return loaded
