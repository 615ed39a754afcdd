"""The one wrapper of every torch recommender: the net, its device, chunked scoring, restore, fold-in.

FunkSVD, BPR, GMF, MLP, NeuMF, GRU4Rec, Caser, SASRec and BERT4Rec keep a plain ``nn.Module`` in ``net_``
(tensors in, tensors out: no numpy, no device logic) and train it with `reclab.train.fit_net`.
What they share lives here, once:

- ``_new_net()``: the net built under a seeded, *forked* torch random state, so fitting a model
  never changes the learner's own ``torch.manual_seed`` stream;
- ``_score(users, history)``: the model turns the users and their history into a batch of inputs
  (``_inputs``: for a factor model the user vectors, folded in from ``history`` when it is not
  the training data; for a sequence model the padded sequences), and the net scores the whole
  catalogue for chunks of users through its one method ``net.score(batch) -> (B, n_items)``;
- ``_restore_modules``: after `Recommender.load`, the net is rebuilt from the saved parameters
  and its state dict, on the CPU, in eval mode;
- the **fold-in** of models with a learned vector per user (FunkSVD, BPR, GMF, MLP, NeuMF): when
  scored from a history other than the training data, the users whose history differs get their
  user parameters (``_user_tables``) refitted on that history — the model's own loss and batches
  (``_fold_in_batches``), every item parameter frozen — and are scored by that copy of the net.
  It is done once per history object (cached), for all changed users at once.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable

import numpy as np
import torch

from ..data import Interactions
from .base import Recommender, changed_users

PAIRS_PER_CHUNK = 1 << 22  # (users × items) scored at once: 16 MB of float32 scores


class TorchRecommender(Recommender):
    """Base of the torch models; subclasses implement ``_build_net()``, ``_inputs`` and ``_fit``.

    ``_inputs(users, history)`` returns what ``net.score`` takes for those users, as a tensor whose
    first axis is the users, or a dict of such tensors; `_score` slices it into chunks, moves each
    to the net's device and collects float32 scores on the CPU.
    """

    _state = ("net_",)
    # names of the net's parameters that belong to users (refitted by the fold-in); () = none
    _user_tables: tuple[str, ...] = ()

    def _build_net(self) -> torch.nn.Module:
        raise NotImplementedError

    def _new_net(self) -> torch.nn.Module:
        """The net, initialised from ``self.seed`` without touching torch's global random state."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            return self._build_net()

    @property
    def device_(self) -> torch.device:
        """Where the net lives (the CPU after `load`)."""
        return next(self.net_.parameters()).device

    def _inputs(self, users: np.ndarray, history: Interactions):
        raise NotImplementedError

    def _fold_in_batches(self, history: Interactions, users: np.ndarray):
        """``batches(rng)`` of the model's loss over ``history``'s rows of ``users`` (fold-in models)."""
        raise NotImplementedError

    def _net_for(self, history: Interactions) -> torch.nn.Module:
        """The net that scores from ``history``: ``net_`` itself, or its folded-in copy."""
        if history is self.train_ or not self._user_tables:
            return self.net_

        def build(history: Interactions) -> torch.nn.Module:
            users = changed_users(self.train_, history)
            if len(users) == 0:
                return self.net_
            return fold_in(self.net_, self._user_tables, self._fold_in_batches(history, users),
                           n_epochs=int(self.fold_in_epochs), lr=float(self.lr), seed=int(self.seed))

        return self._per_history(history, "fold-in", build)

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        inputs = self._inputs(users, history)
        chunk = max(1, PAIRS_PER_CHUNK // self.n_items_)
        net = self._net_for(history)
        device = next(net.parameters()).device
        was_training = net.training
        net.eval()
        out = np.empty((len(users), self.n_items_), np.float32)
        with torch.no_grad():
            for start in range(0, len(users), chunk):
                part = slice(start, start + chunk)
                if isinstance(inputs, dict):
                    batch = {key: value[part].to(device) for key, value in inputs.items()}
                else:
                    batch = inputs[part].to(device)
                out[part] = net.score(batch).float().cpu().numpy()
        net.train(was_training)
        return out

    def _restore_modules(self, modules: dict[str, dict[str, np.ndarray]]) -> None:
        self.net_ = self._build_net()
        self.net_.load_state_dict({k: torch.from_numpy(v) for k, v in modules["net_"].items()})
        self.net_.eval()


def fold_in(net: torch.nn.Module, user_tables: Iterable[str], batches: Callable[[np.random.Generator], Iterable[dict]],
            *, n_epochs: int, lr: float, seed: int) -> torch.nn.Module:
    """A copy of ``net`` whose ``user_tables`` were trained on ``batches`` with every other weight frozen.

    Adam without weight decay: a row that gets no gradient (a user not in the batches) keeps its
    value exactly, so only the users the batches are about move. ``net`` itself is not changed.

    Parameters
    ----------
    net : a net with ``loss(batch) -> scalar``.
    user_tables : names (as in ``net.named_parameters()``) of the parameters to refit.
    batches : ``batches(rng)`` yields one epoch of batches (dicts of CPU tensors).
    n_epochs, lr, seed : epochs over the batches, Adam's step size, the seed of the batch order.
    """
    user_tables = set(user_tables)
    net = copy.deepcopy(net)
    names = {name for name, _ in net.named_parameters()}
    if not user_tables <= names:
        raise ValueError(f"user_tables {sorted(user_tables - names)} are not parameters of the net ({sorted(names)}).")
    params = []
    for name, param in net.named_parameters():
        param.requires_grad_(name in user_tables)
        if name in user_tables:
            params.append(param)
    device = next(net.parameters()).device
    optimizer = torch.optim.Adam(params, lr=lr)
    net.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(n_epochs):
            for batch in batches(np.random.default_rng([seed, epoch, 0xF01D])):
                optimizer.zero_grad(set_to_none=True)
                net.loss({key: value.to(device) for key, value in batch.items()}).backward()
                optimizer.step()
    net.eval()
    for param in net.parameters():
        param.requires_grad_(False)
    return net


def validator(train: Interactions, valid: Interactions | None):
    """``validate(net) -> float`` for `fit_net`: validation NDCG@10 of the model, or None without ``valid``.

    One `reclab.evaluation.Evaluator` is built here, once per fit, and called every epoch; its
    history is ``train``, so the model scores the validation item from what it was trained on.
    """
    if valid is None or len(valid) == 0:
        return None
    from ..evaluation import Evaluator

    return Evaluator(train, valid, k=10, metrics=("NDCG",))
