"""The ``reclab`` command line: train, evaluate, recommend and serve.

    reclab train --model EASE --data 100k --out ease.npz
    reclab evaluate ease.npz -k 10
    reclab recommend ease.npz --user 0 -k 5 [--history 1,2,3]
    reclab serve ease.npz --port 8000

(also ``python -m reclab ...``). A user mistake — an unknown model, a missing, foreign or damaged
file, an unknown user, a k larger than the catalogue, an empty history, a port in use — prints one
line ``reclab <command>: error: ...`` on stderr and exits 1 (2 for a malformed command line), never
a traceback. Under ``torchrun`` every rank trains, and only rank 0 (``RANK`` unset or "0") writes
``--out`` and prints.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from .models.base import NotFittedError

# name → how the command line builds it from --epochs (None: the model's default), --seed, --device;
# models without epochs, seed or device take what they have
MODELS: dict[str, Callable] = {
    "Popularity": lambda epochs, seed, device: _model("Popularity"),
    "ItemKNN": lambda epochs, seed, device: _model("ItemKNN"),
    "EASE": lambda epochs, seed, device: _model("EASE"),
    "ALS": lambda epochs, seed, device: _model("ALS", n_epochs=epochs, seed=seed),
    "BPR": lambda epochs, seed, device: _model("BPR", n_epochs=epochs, seed=seed, device=device),
    "Markov": lambda epochs, seed, device: _model("MarkovChain"),
    "GRU4Rec": lambda epochs, seed, device: _model("GRU4Rec", n_epochs=epochs, seed=seed, device=device),
    "SASRec": lambda epochs, seed, device: _model("SASRec", n_epochs=epochs, seed=seed, device=device),
}


def _model(name: str, **params):
    from . import models

    return getattr(models, name)(**{key: value for key, value in params.items() if value is not None})


class _Parser(argparse.ArgumentParser):
    """argparse that reports a malformed command line in one line (usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _rank0() -> bool:
    """Whether this process is rank 0 of a torchrun job, or not in one at all."""
    return os.environ.get("RANK", "0") in ("", "0")


def _train(args) -> None:
    from . import evaluate
    from .data import leave_last_out, load_movielens

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs {args.epochs} must be at least 1 (or left out for the model's default).")
    model = MODELS[args.model](args.epochs, args.seed, args.device)
    split = leave_last_out(load_movielens(args.data))
    model.fit(split.train, valid=split.valid)
    if not _rank0():
        return
    model.save(args.out)
    ndcg = evaluate(model, split, 10, part="valid", metrics=("NDCG",), ci=None)["value"].iloc[0]
    print(f"{args.model} on ml-{args.data}: validation NDCG@10 = {ndcg:.4f}; saved to {args.out}")


def _evaluate(args) -> None:
    from . import evaluate
    from .data import leave_last_out
    from .modelfile import data_for, load_model

    if args.k < 1:
        raise ValueError(f"-k {args.k} must be at least 1.")
    model = load_model(args.model_file)
    split = leave_last_out(data_for(model, args.data))
    table = evaluate(model, split, args.k, part="test", name=type(model).__name__)
    print(table.to_string(index=False, float_format="{:.4f}".format))


def _parse_items(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"--history {text!r} is empty; give comma-separated item indices, e.g. --history 1,2,3.")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"--history {text!r} must be comma-separated item indices (ints), e.g. --history 1,2,3.") from None


def _recommend(args) -> None:
    from .modelfile import data_for, load_model
    from .online import with_items

    model = load_model(args.model_file)
    model._check_users(args.user)
    model._check_k(args.k, model.n_items_)
    history = None if args.history is None else with_items(model.train_, args.user, _parse_items(args.history))
    items, scores = model.recommend(args.user, args.k, history=history)
    titles = data_for(model, args.data).items["title"] if args.titles else None
    print(f"{'rank':>4}  {'item':>5}  {'score':>9}  title")
    for rank, (item, score) in enumerate(zip(items, scores), 1):
        if item >= 0:
            title = titles.iloc[item] if titles is not None else model.train_.item_ids[item]
            print(f"{rank:>4}  {item:>5}  {score:>9.4f}  {title}")


def _serve(args) -> None:
    from .modelfile import data_for, load_model
    from .serve import serve

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} must be from 0 to 65535 (0: any free port).")
    model = load_model(args.model_file)
    data = data_for(model, args.data) if args.titles else None

    def ready(host: str, port: int) -> None:
        print(f"serving {type(model).__name__} on http://{host}:{port} (Ctrl-C to stop)", flush=True)

    serve(model, data, host=args.host, port=args.port, ready=ready)


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``reclab`` (one sub-command per action)."""
    main_parser = _Parser(prog="reclab", description="Train, evaluate, query and serve reclab recommenders.")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    train = commands.add_parser("train", help="fit a model on a leave-last-out split and save it",
                                description="Fit on the leave-last-out train part (valid for early stopping), "
                                            "print validation NDCG@10 and save the model.")
    train.add_argument("--model", required=True, choices=list(MODELS), help="the model to fit")
    train.add_argument("--data", default="100k", help="MovieLens size (default 100k, offline)")
    train.add_argument("--out", required=True, help="the .npz file to write")
    train.add_argument("--epochs", type=int, default=None, help="training epochs (default: the model's own)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--device", default="auto", help='"auto", "cpu", "cuda" ... for torch models (default auto)')
    train.set_defaults(run=_train)

    def model_file(command):
        command.add_argument("model_file", metavar="MODEL", help="a .npz file written by `reclab train`")
        command.add_argument("--data", default=None,
                             help="MovieLens size it was trained on (default: the one the file records)")

    evaluate = commands.add_parser("evaluate", help="print the test metrics of a saved model",
                                   description="Evaluate on the leave-last-out test part of the data it was trained on.")
    model_file(evaluate)
    evaluate.add_argument("-k", type=int, default=10, help="cut-off (default 10)")
    evaluate.set_defaults(run=_evaluate)

    recommend = commands.add_parser("recommend", help="print a user's top-k items",
                                    description="Top-k items with titles and scores, seen items excluded.")
    model_file(recommend)
    recommend.add_argument("--user", type=int, required=True, help="user index (0-based)")
    recommend.add_argument("-k", type=int, default=10, help="how many items (default 10)")
    recommend.add_argument("--history", default=None,
                           help="comma-separated item indices, oldest first, scored instead of the user's own")
    recommend.add_argument("--no-titles", dest="titles", action="store_false", help="show raw item ids, load no data")
    recommend.set_defaults(run=_recommend)

    serve = commands.add_parser("serve", help="serve a saved model over HTTP",
                                description="GET /health, POST /recommend, POST /events (see reclab.serve).")
    model_file(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    serve.add_argument("--no-titles", dest="titles", action="store_false", help="show raw item ids, load no data")
    serve.set_defaults(run=_serve)
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a user mistake, 2 a malformed command).

    Examples
    --------
    >>> main(["recommend", "ease.npz", "--user", "0", "-k", "3"])   # doctest: +SKIP
    0
    """
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a malformed command line already reported in one line
        return int(exit_.code or 0)
    try:
        args.run(args)
    except (ValueError, KeyError, FileNotFoundError, NotFittedError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"reclab {args.command}: error: {' '.join(str(message).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
