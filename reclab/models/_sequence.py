"""What GRU4Rec, Caser, SASRec and BERT4Rec share: user histories as padded id tensors, the item and
position embeddings, the next-item loss, and a `SequenceRecommender` base (a `TorchRecommender`)
that fits a net with `reclab.train.fit_net` and scores each user from the history it is given.

Conventions (one place, so the sequence models agree):

- items are shifted by +1 inside the nets, so id 0 is padding (BERT4Rec adds a mask token,
  ``n_items + 1``); public ids stay 0-based;
- sequences are **left**-padded: the most recent item is always in the last column, so "the
  prediction for this user" is the output at position -1 whatever the padding;
- a sequence longer than ``max_len`` is truncated to its ``max_len`` most recent items.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Interactions
from ._torch import TorchRecommender, validator
from .base import Bool, Int, Real


def pad_left(sequences: list[np.ndarray], max_len: int) -> np.ndarray:
    """Stack sequences into an int64 array (n, max_len), left-padded with 0, keeping the last items.

    >>> pad_left([np.array([1, 2, 3]), np.array([4])], 2)
    array([[2, 3],
           [0, 4]])
    """
    out = np.zeros((len(sequences), max_len), np.int64)
    for row, seq in zip(out, sequences):
        seq = seq[len(seq) - max_len:] if len(seq) > max_len else seq
        if len(seq):
            row[max_len - len(seq):] = seq
    return out


def bucket_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, chunk: int = 32) -> list[np.ndarray]:
    """Row indices in batches of similar length (so little padding), in a random order.

    Rows are shuffled, cut into chunks of ``chunk`` batches, sorted by length inside each chunk,
    cut into batches, and the batches shuffled: similar lengths together, yet a different
    grouping every epoch.
    """
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch_size * chunk):
        block = order[start: start + batch_size * chunk]
        block = block[np.argsort(lengths[block], kind="stable")]
        batches += [block[i: i + batch_size] for i in range(0, len(block), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def crop(padded: np.ndarray) -> np.ndarray:
    """Drop the leading columns that are padding in every row (left padding)."""
    used = np.flatnonzero((padded > 0).any(axis=0))
    return padded[:, used[0]:] if len(used) else padded[:, -1:]


def item_embedding(n_rows: int, d: int) -> nn.Embedding:
    """An (n_rows, d) embedding with row 0 the padding: zero, and kept zero (no gradient).

    Entries are drawn from N(0, 1/d), so a dot product of two rows starts near unit scale.
    """
    emb = nn.Embedding(n_rows, d, padding_idx=0)
    nn.init.normal_(emb.weight, std=d ** -0.5)
    with torch.no_grad():
        emb.weight[0].zero_()
    return emb


class PositionalItemNet(nn.Module):
    """Base of the Transformer nets: item embedding × √d + learned position embedding, dropout.

    Positions count back from the most recent token (the last column is always position
    ``max_len - 1``), so left padding never shifts them.
    """

    def __init__(self, n_rows: int, d: int, max_len: int, dropout: float):
        super().__init__()
        self.item_emb = item_embedding(n_rows, d)
        self.pos_emb = nn.Embedding(max_len, d)
        nn.init.normal_(self.pos_emb.weight, std=d ** -0.5)
        self.drop = nn.Dropout(dropout)
        self.max_len = max_len

    def embed(self, items: torch.Tensor) -> torch.Tensor:
        """items (B, L) left-padded token ids → (B, L, d) inputs of the first block."""
        L = items.shape[1]
        pos = torch.arange(self.max_len - L, self.max_len, device=items.device)
        return self.drop(self.item_emb(items) * math.sqrt(self.item_emb.embedding_dim) + self.pos_emb(pos))


def next_item_loss(hidden: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
                   kind: str = "ce", n_negatives: int | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Loss of predicting ``targets`` from ``hidden`` at every non-padding position at once.

    Parameters
    ----------
    hidden : (B, L, d) outputs of the net.
    targets : (B, L) shifted item ids (1..n_items); 0 marks positions without a target.
    items : (n_items, d) output embeddings of the catalogue (row i is shifted item i + 1).
    kind : "ce" — softmax cross-entropy over the catalogue; "bce" — binary cross-entropy of the
        target against one uniformly sampled negative per position (SASRec's original loss).
    n_negatives : with "ce", rank the target against this many uniformly sampled items shared by
        the batch (sampled softmax) instead of the full catalogue.
    bias : optional (n_items,) output bias.
    """
    keep = targets > 0
    h, y = hidden[keep], targets[keep] - 1  # (N, d), (N,) 0-based targets
    h = h.to(items.dtype)  # under autocast hidden may be bf16 while the table is fp32
    if kind == "ce" and n_negatives is None:
        logits = h @ items.T  # (N, n_items)
        return F.cross_entropy(logits if bias is None else logits + bias, y)
    n_items = items.shape[0]
    if kind == "ce":
        negatives = torch.randint(n_items, (n_negatives,), device=y.device)
        candidates = torch.cat([y[:, None], negatives[None, :].expand(len(y), -1)], dim=1)  # (N, 1 + n_neg)
    elif kind == "bce":
        candidates = torch.stack([y, torch.randint(n_items, y.shape, device=y.device)], dim=1)  # (N, 2)
    else:
        raise ValueError(f"loss={kind!r} is not supported; use 'ce' or 'bce'.")
    # index_select, not items[candidates]: its backward sums repeated rows in index order, so the
    # gradient is the same on any number of CPU threads (see reclab.train, "Repeatability")
    flat = candidates.reshape(-1)
    logits = (h[:, None, :] * items.index_select(0, flat).view(*candidates.shape, -1)).sum(-1)  # (N, C)
    if bias is not None:
        logits = logits + bias.index_select(0, flat).view(candidates.shape)
    if kind == "bce":
        return F.softplus(-logits[:, 0]).mean() + F.softplus(logits[:, 1]).mean()
    logits[:, 1:] = logits[:, 1:].masked_fill(candidates[:, 1:] == y[:, None], float("-inf"))  # accidental hits
    return F.cross_entropy(logits, torch.zeros_like(y))


class SequenceRecommender(TorchRecommender):
    """Base of the sequence models: histories, batches, fitting with early stopping, scoring.

    Subclasses store their keyword arguments (including n_factors, max_len, dropout, n_epochs,
    batch_size, lr, reg, patience, device, seed, progress) and implement ``_build_net()`` and
    ``_batches(sequences) -> batches(rng)``; ``_pad(sequences)`` may add a token (BERT4Rec).
    The net must implement ``loss(batch)`` and ``score(items (B, L)) -> (B, n_items)``.

    A user's sequence is read from the ``history`` given at scoring time: its items in time order
    (`Interactions.sequences`; by default the training data). Scored with
    ``split.history("test")`` the model continues train + valid, as in the SASRec and BERT4Rec
    papers' leave-one-out protocol; a history with one more event is a real-time update, with no
    refit. Users with an empty history are scored by training popularity.
    """

    _state = ("net_", "popularity_")
    _shapes = {"popularity_": ("I",)}
    _params = {
        "n_factors": Int(1), "max_len": Int(1), "n_epochs": Int(1), "batch_size": Int(1),
        "dropout": Real(0, 1, high_open=True), "lr": Real(0, low_open=True), "reg": Real(0),
        "patience": Int(1, none=True), "seed": Int(0), "progress": Bool(),
    }

    # ------------------------------------------------------------------ fitting
    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self.popularity_ = train.item_counts().astype(np.float32)
        sequences = [s + 1 for s in self._sequences(train)]  # shift: 0 is padding
        lengths = np.array([len(s) for s in sequences])
        if (lengths >= 2).sum() == 0:
            raise ValueError("no user has two or more training interactions; a sequence model needs at least one pair.")
        self.net_ = self._new_net()
        evaluator = validator(train, valid)
        validate = None if evaluator is None else (lambda net: evaluator(self))  # scores with self.net_
        from ..train import fit_net

        self.history_ = fit_net(
            self.net_, self._batches(sequences), n_epochs=int(self.n_epochs), lr=float(self.lr),
            weight_decay=float(self.reg), validate=validate, patience=self.patience if validate else None,
            device=self.device, seed=int(self.seed), progress=self.progress, name=type(self).__name__,
        )

    def _next_item_batches(self, sequences: list[np.ndarray]):
        """Batches for models that predict position t + 1 from positions ≤ t (GRU4Rec, SASRec)."""
        sequences = [s for s in sequences if len(s) >= 2]
        inputs = pad_left([s[:-1] for s in sequences], self.max_len)  # (n, max_len)
        targets = pad_left([s[1:] for s in sequences], self.max_len)
        lengths = (inputs > 0).sum(axis=1)

        def batches(rng: np.random.Generator):
            for rows in bucket_batches(lengths, self.batch_size, rng):
                x = crop(inputs[rows])
                yield {"items": torch.from_numpy(x), "targets": torch.from_numpy(targets[rows][:, -x.shape[1]:])}

        return batches

    # ------------------------------------------------------------------ scoring
    @staticmethod
    def _sequences(history: Interactions) -> list[np.ndarray]:
        """Each user's items of ``history`` in time order (0-based ids), built once per history."""
        return history.view("sequences", lambda h: h.sequences())

    def _histories(self, users: np.ndarray, history: Interactions | None = None) -> list[np.ndarray]:
        """The shifted sequences (1..n_items) the scores of ``users`` continue."""
        sequences = self._sequences(self._check_history(history))
        return [sequences[u] + 1 for u in users]

    def _pad(self, sequences: list[np.ndarray]) -> np.ndarray:
        """Left-padded inputs for scoring: the last ``max_len`` items (shifted ids)."""
        return pad_left(sequences, int(self.max_len))

    def _inputs(self, users: np.ndarray, history: Interactions) -> torch.Tensor:
        return torch.from_numpy(self._pad(self._histories(users, history)))

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        return self._score_shifted(self._histories(users, history))

    def score_sequences(self, sequences) -> np.ndarray:
        """Scores of every item as the next one after each of ``sequences`` (0-based item ids).

        Lets you ask "what comes after these movies?" for a history that is not a training
        user's. Returns a float32 array (len(sequences), n_items).
        """
        n = self._fitted("n_items_")
        shifted = []
        for seq in sequences:
            seq = np.asarray(seq)
            if seq.ndim != 1 or (len(seq) and not np.issubdtype(seq.dtype, np.integer)):
                raise ValueError(f"each sequence must be a 1-D list of int item indices, got {seq!r}.")
            bad = seq[(seq < 0) | (seq >= n)]
            if len(bad):
                raise KeyError(f"item index {int(bad[0])} is outside the catalogue: this model knows items 0..{n - 1}.")
            shifted.append(seq.astype(np.int64) + 1)
        return self._score_shifted(shifted)

    def _score_shifted(self, sequences: list[np.ndarray], batch_size: int = 256) -> np.ndarray:
        net = self.net_
        device = self.device_
        was_training = net.training
        net.eval()
        out = np.empty((len(sequences), self.n_items_), np.float32)
        # batches of similar length, so each is cropped to little more than its longest history
        order = np.argsort([len(s) for s in sequences], kind="stable")
        with torch.no_grad():
            for start in range(0, len(sequences), batch_size):
                rows = order[start: start + batch_size]
                x = crop(self._pad([sequences[i] for i in rows]))
                out[rows] = net.score(torch.from_numpy(x).to(device)).float().cpu().numpy()
        net.train(was_training)
        empty = np.array([len(s) == 0 for s in sequences], bool)
        out[empty] = self.popularity_  # nothing to continue: fall back to what is popular
        return out

    def _item_vectors(self) -> np.ndarray:
        return self.net_.item_emb.weight[1: self.n_items_ + 1].detach().float().cpu().numpy()
