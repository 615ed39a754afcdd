"""An HTTP service for a fitted model, with real-time updates (FastAPI on uvicorn).

- ``GET /health`` → ``{"model": "EASE", "n_users": 943, "n_items": 1682, "events": 0}``;
- ``POST /recommend`` with ``{"user": 0, "k": 10}`` scores the user from the live history, or with
  ``{"history": [1, 5, 9], "k": 10}`` a newcomer from those items (oldest first); either way the
  user's items are excluded, and the answer is ``{"items": [{"item", "title", "score"}, ...]}``;
- ``POST /events`` with ``{"user": 0, "item": 42}`` (optionally ``rating``, ``timestamp``) appends
  to that user's history; the next ``/recommend`` scores from it, without refitting
  (`reclab.online.LiveHistory`).

Bad input is a 4xx with a JSON body ``{"detail": ...}``: an unknown user or item is 404, a k out
of range, an empty history or a malformed body 422. Ids are the model's 0-based indices.
"""
from __future__ import annotations

import math
import socket

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

from .data import Interactions
from .models.base import Recommender
from .online import LiveHistory


class RecommendRequest(BaseModel):
    """Exactly one of ``user`` (a known user) or ``history`` (a newcomer's items), and ``k``."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field ("users") is an error, not ignored
    user: StrictInt | None = None
    history: list[StrictInt] | None = None
    k: StrictInt = Field(10, ge=1)

    @model_validator(mode="after")
    def _one_of(self):
        if (self.user is None) == (self.history is None):
            raise ValueError('give exactly one of "user" (a user index) or "history" (a list of item indices)')
        if self.history is not None and not self.history:
            raise ValueError('"history" is empty; give at least one item index, e.g. [1, 5, 9]')
        return self


class Event(BaseModel):
    """One interaction: ``user`` met ``item`` (with an optional rating and Unix timestamp)."""

    model_config = ConfigDict(extra="forbid")
    user: StrictInt
    item: StrictInt
    rating: StrictFloat | StrictInt = 1.0
    timestamp: StrictInt | None = Field(None, ge=0, le=2**62)

    @model_validator(mode="after")
    def _finite(self):
        if not math.isfinite(self.rating):
            raise ValueError(f'"rating" must be a finite number, got {self.rating!r}')
        return self


def _titles(model: Recommender, data: Interactions | None) -> list[str]:
    """One display name per item index: the title from ``data``, else the raw item id."""
    if data is None or "title" not in data.items:
        return [str(i) for i in model.train_.item_ids]
    model.train_.check_same_ids(data, "data")
    return [str(t) for t in data.items["title"]]


def make_app(model: Recommender, data: Interactions | None = None, *, history: Interactions | None = None) -> FastAPI:
    """The FastAPI app serving ``model``; ``data`` gives titles, ``history`` the starting history.

    Parameters
    ----------
    model : a fitted recommender.
    data : the dataset it was trained on (for ``items["title"]``); None shows raw item ids.
    history : what each user has done so far (default: the model's training data).

    Examples
    --------
    >>> from fastapi.testclient import TestClient                                # doctest: +SKIP
    >>> client = TestClient(make_app(EASE().fit(split.train), data))             # doctest: +SKIP
    >>> client.post("/recommend", json={"user": 0, "k": 3}).json()["items"][0]   # doctest: +SKIP
    {'item': 49, 'title': 'Star Wars (1977)', 'score': 0.83}
    """
    live = LiveHistory(model, history)
    titles = _titles(model, data)
    app = FastAPI(title=f"reclab · {type(model).__name__}", version="1")
    app.state.live = live
    events = {"count": 0}

    def listing(items: np.ndarray, scores: np.ndarray) -> dict:
        kept = items >= 0  # -1 pads a list when fewer than k items are left unseen
        return {"items": [{"item": int(i), "title": titles[i], "score": float(s)}
                          for i, s in zip(items[kept], scores[kept])]}

    @app.exception_handler(KeyError)
    async def unknown_id(request: Request, error: KeyError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(error.args[0] if error.args else error)})

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, error: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})

    @app.get("/health")
    def health() -> dict:
        """The model served and its sizes."""
        return {"model": type(model).__name__, "n_users": live.n_users, "n_items": live.n_items,
                "events": events["count"]}

    @app.post("/recommend")
    def recommend(request: RecommendRequest) -> dict:
        """Top-k items for a known user (from the live history) or for a newcomer's items."""
        if request.k > live.n_items:
            raise ValueError(f"k={request.k} must be from 1 to {live.n_items} (the number of items).")
        if request.user is not None:
            return listing(*live.recommend(request.user, request.k))
        return listing(*live.recommend_items(request.history, request.k))

    @app.post("/events")
    def event(request: Event) -> dict:
        """Append one interaction to the user's history; the next /recommend reads it."""
        n = live.append(request.user, request.item, float(request.rating), request.timestamp)
        events["count"] += 1
        return {"user": request.user, "n_interactions": n}

    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); OSError naming the address and the fix when it is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free; a listening one is not
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({error.strerror or error}); the port is in use or the "
                      "address is not this machine's: pick another --port (or stop what holds it).") from None
    return sock


def serve(model: Recommender, data: Interactions | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "warning", ready=None) -> None:
    """Serve ``model`` on http://host:port until interrupted (SIGINT / SIGTERM).

    The socket is bound before uvicorn starts, so a port in use is an OSError here, not a log line.
    ``ready(host, port)`` is called once it listens (the command line prints the address).
    """
    import uvicorn

    sock = bind(host, port)
    config = uvicorn.Config(make_app(model, data), log_level=log_level, access_log=False)
    server = uvicorn.Server(config)
    if ready is not None:
        ready(host, sock.getsockname()[1])
    server.run(sockets=[sock])
