"""GRU4Rec: a recurrent network that reads a user's items in order and predicts the next one.

Hidasi, B., Karatzoglou, A., Baltrunas, L. & Tikk, D. (2016). "Session-based Recommendations with
Recurrent Neural Networks". ICLR 2016. https://arxiv.org/abs/1511.06939

Tied input/output embeddings are weight tying from language modelling (Press & Wolf, "Using the
Output Embedding to Improve Language Models", EACL 2017; Inan, Khosravi & Socher, ICLR 2017); the
official GRU4Rec code offers them as ``constrained_embedding``.
"""
from __future__ import annotations

import torch
from torch import nn

from ._sequence import SequenceRecommender, item_embedding, next_item_loss
from .base import Int


class GRU4RecNet(nn.Module):
    """Item embedding → GRU → projection back to the embedding space → dot product with every item."""

    def __init__(self, n_items: int, d: int, n_hidden: int, n_layers: int, dropout: float, n_negatives: int | None):
        super().__init__()
        self.item_emb = item_embedding(n_items + 1, d)  # row 0: padding
        self.gru = nn.GRU(d, n_hidden, n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0)
        self.out = nn.Linear(n_hidden, d)
        self.drop = nn.Dropout(dropout)
        self.n_negatives = n_negatives

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """items (B, L) left-padded shifted ids → hidden (B, L, d); padding rows are meaningless.

        A GRU must not read padding before the items (its state would drift through it), but
        padding *after* them cannot change their outputs: the GRU only looks back. So each row is
        rotated to put its padding on the right, run through the GRU whole (no packing, which is
        slow on CPU), and rotated back.
        """
        B, L = items.shape
        shift = (items == 0).sum(dim=1, keepdim=True)  # (B, 1) padding per row
        steps = torch.arange(L, device=items.device)[None, :]
        right = items.gather(1, (steps + shift) % L)  # (B, L) padding now on the right
        h, _ = self.gru(self.drop(self.item_emb(right)))  # (B, L, n_hidden)
        h = h.gather(1, ((steps - shift) % L)[:, :, None].expand(-1, -1, h.shape[2]))  # padding back on the left
        return self.out(self.drop(h))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return next_item_loss(self(batch["items"]), batch["targets"], self.item_emb.weight[1:], "ce", self.n_negatives)

    def score(self, items: torch.Tensor) -> torch.Tensor:
        """Scores (B, n_items) of the item after each left-padded sequence in items (B, L)."""
        return self(items)[:, -1] @ self.item_emb.weight[1:].T

    def predict(self, items: torch.Tensor) -> torch.Tensor:
        """The same as `score` (the name notebook 07 uses)."""
        return self.score(items)


class GRU4Rec(SequenceRecommender):
    """GRU4Rec: a GRU over each user's time-ordered history, trained to predict every next item.

    Deviations from the paper (Hidasi et al., 2016):

    - a user's whole history is one sequence (MovieLens has no sessions); the paper's
      session-parallel mini-batches, which carry the hidden state across sessions in a batch
      column, are replaced by padded batches of whole histories (sorted into buckets of similar
      length) with the loss on every position at once — the same gradient signal, simpler code;
    - the loss is the softmax cross-entropy over the full catalogue (the paper's TOP1 and BPR
      losses rank the target against the other items in the mini-batch); ``n_negatives`` gives a
      sampled softmax over uniform negatives instead;
    - an item embedding replaces the one-hot input, and the output layer is tied to it
      (weight tying, Press & Wolf 2017): fewer parameters on small data;
    - Adam instead of Adagrad; early stopping on validation NDCG@10; histories longer than
      ``max_len`` are truncated to their most recent items.

    Parameters
    ----------
    n_factors : item embedding size. n_hidden : GRU state size. n_layers : stacked GRUs.
    max_len : longest history read (most recent items kept). dropout : on embeddings and outputs.
    n_negatives : None for the full softmax, or the number of sampled negatives per batch.
    n_epochs, batch_size, lr, reg, patience, device, seed, progress : see `reclab.models.SASRec`.

    Dropout 0.2 was chosen over 0.4 on ml-100k's validation part (a small difference), and 64
    histories a batch over 128 (validation NDCG@10 0.110 against 0.109, best epoch 31 for both,
    but a faster climb: twice the optimiser steps for about the same time an epoch). Smaller
    batches are not cheaper here: the GRU steps through time one position after another, so an
    epoch of small batches takes more sequential steps.

    Examples
    --------
    >>> model = GRU4Rec().fit(split.train, valid=split.valid)                  # doctest: +SKIP
    >>> scores = model.score([0, 1], history=split.history("test"))           # doctest: +SKIP
    """

    _params = {**SequenceRecommender._params, "n_hidden": Int(1), "n_layers": Int(1), "n_negatives": Int(1, none=True)}

    def __init__(self, *, n_factors: int = 64, n_hidden: int = 128, n_layers: int = 1, max_len: int = 200,
                 dropout: float = 0.2, n_negatives: int | None = None, n_epochs: int = 200, batch_size: int = 64,
                 lr: float = 2e-3, reg: float = 0.0, patience: int = 10, device: str = "auto", seed: int = 0,
                 progress: bool = False):
        self.n_factors, self.n_hidden, self.n_layers, self.max_len = n_factors, n_hidden, n_layers, max_len
        self.dropout, self.n_negatives, self.n_epochs, self.batch_size = dropout, n_negatives, n_epochs, batch_size
        self.lr, self.reg, self.patience, self.device = lr, reg, patience, device
        self.seed, self.progress = seed, progress

    def _build_net(self) -> GRU4RecNet:
        n_negatives = None if self.n_negatives is None else int(self.n_negatives)  # torch sizes want Python ints
        return GRU4RecNet(self.n_items_, int(self.n_factors), int(self.n_hidden), int(self.n_layers),
                          float(self.dropout), n_negatives)

    def _batches(self, sequences):
        return self._next_item_batches(sequences)
