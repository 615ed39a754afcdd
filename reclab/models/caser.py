"""Caser: convolutional sequence embedding for top-N sequential recommendation.

Tang, J. & Wang, K. (2018). "Personalized Top-N Sequential Recommendation via Convolutional
Sequence Embedding". WSDM 2018, pp. 565–573. https://arxiv.org/abs/1809.07426

The last L items of a history, embedded, make an L × d "image". Horizontal filters (h × d, for
every height h = 1..L) slide down it and are max-pooled over time: each detects a union-level
pattern of h consecutive items wherever it occurs. Vertical filters (L × 1) take weighted sums of
the L rows: point-level patterns, a learned mix of the recent items. Both are concatenated and
passed through a fully connected layer to a d-vector z, scored against an output embedding of
every item plus a bias.

Built bottom-up: CaserNet (the nn.Module) → Caser (the recommender).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._sequence import SequenceRecommender, item_embedding, next_item_loss
from .base import Choice, Int


class CaserNet(nn.Module):
    """Item embedding → horizontal and vertical convolutions → fully connected → item scores.

    ``n_h`` horizontal filters of each height 1..L (ReLU, max-pooled over time) and ``n_v``
    vertical filters of size L × 1 (no activation, as in the authors' code), concatenated,
    dropout, a fully connected layer with ReLU to ``z`` (B, d), then ``z · W_j + b_j`` for item j.
    """

    def __init__(self, n_items: int, d: int, max_len: int, n_h: int, n_v: int, dropout: float, loss: str):
        super().__init__()
        self.item_emb = item_embedding(n_items + 1, d)  # row 0: padding (zero rows in the image)
        self.conv_h = nn.ModuleList(nn.Conv2d(1, n_h, (h, d)) for h in range(1, max_len + 1))
        self.conv_v = nn.Conv2d(1, n_v, (max_len, 1)) if n_v else None
        self.fc = nn.Linear(n_v * d + n_h * max_len, d)
        self.drop = nn.Dropout(dropout)
        self.out_emb = nn.Embedding(n_items, d)  # the paper's W′: not tied to the input embedding
        nn.init.normal_(self.out_emb.weight, std=d ** -0.5)
        self.bias = nn.Parameter(torch.zeros(n_items))  # the paper's b′
        self.max_len, self.loss_kind = max_len, loss

    def image(self, items: torch.Tensor) -> torch.Tensor:
        """items (B, ≤L) left-padded shifted ids → (B, 1, L, d): the last L items, zero rows before them.

        Scoring crops a batch to its longest history; the filters need all L rows, so the left
        padding is put back here (a padding row embeds to zero either way).
        """
        items = F.pad(items[:, -self.max_len:], (self.max_len - min(items.shape[1], self.max_len), 0))  # (B, L)
        return self.item_emb(items)[:, None]  # (B, 1, L, d): one input channel

    def convolutions(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two feature vectors: horizontal (B, n_h · L) and vertical (B, n_v · d)."""
        E = self.image(items)  # (B, 1, L, d)
        pooled = []
        for conv in self.conv_h:
            c = F.relu(conv(E)).squeeze(3)  # (B, n_h, L − h + 1): one value per window of h items
            pooled.append(c.max(dim=2).values)  # (B, n_h): the strongest match anywhere in the window
        o = torch.cat(pooled, dim=1)  # (B, n_h · L)
        if self.conv_v is None:
            return o, E.new_zeros(E.shape[0], 0)
        return o, self.conv_v(E).flatten(1)  # (B, n_v, 1, d) → (B, n_v · d)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """items (B, ≤L) left-padded shifted ids → z (B, d), the sequence embedding."""
        o, o_v = self.convolutions(items)
        return F.relu(self.fc(self.drop(torch.cat([o_v, o], dim=1))))  # (B, d)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """batch["targets"] (B, T): the next T items of each window (0 where the sequence ended)."""
        z = self(batch["items"])  # (B, d)
        T = batch["targets"].shape[1]
        return next_item_loss(z[:, None].expand(-1, T, -1), batch["targets"], self.out_emb.weight, self.loss_kind,
                              bias=self.bias)

    def score(self, items: torch.Tensor) -> torch.Tensor:
        """Scores (B, n_items) of the item after each left-padded sequence in items (B, ≤L)."""
        return self(items) @ self.out_emb.weight.T + self.bias


def windows(sequences: list[np.ndarray], max_len: int, n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (previous ≤ L items, next T items) pair of each sequence: Caser's training examples.

    Parameters
    ----------
    sequences : shifted item ids (1..n_items), one array per user in time order.
    max_len, n_targets : L and T.

    Returns
    -------
    inputs : (n, L) int64, left-padded with 0; one row per position t ≥ 1 of each sequence.
    targets : (n, T) int64, the items at t, t + 1, ..., 0 past the end of the sequence.

    Examples
    --------
    >>> x, y = windows([np.array([1, 2, 3])], max_len=2, n_targets=2)
    >>> x.tolist(), y.tolist()
    ([[0, 1], [1, 2]], [[2, 3], [3, 0]])
    """
    inputs, targets = [], []
    for s in sequences:
        if len(s) < 2:
            continue
        p = np.concatenate([np.zeros(max_len, np.int64), s, np.zeros(n_targets, np.int64)])
        view = np.lib.stride_tricks.sliding_window_view(p, max_len + n_targets)[1: len(s)]  # (len − 1, L + T)
        inputs.append(view[:, :max_len])
        targets.append(view[:, max_len:])
    if not inputs:
        return np.zeros((0, max_len), np.int64), np.zeros((0, n_targets), np.int64)
    return np.concatenate(inputs), np.concatenate(targets)


class Caser(SequenceRecommender):
    """Caser: horizontal and vertical convolutions over the embeddings of the last L items.

    Deviations from the paper (Tang & Wang, 2018):

    - **no user embedding**: the paper concatenates z with a learned user vector P_u; here the
      score reads only the history given at scoring time, so a new user or a new event is scored
      at once with no refit — the fold-in problem of per-user parameters disappears. What is lost
      is the general, long-term taste that P_u carries in the paper beyond the last L items;
    - every position t ≥ 1 of each training sequence is a target, its ≤ L predecessors the input
      (left-padded at the start of a sequence); the authors' code keeps only full windows of
      L + T items (one padded window for a shorter sequence);
    - the loss is the softmax cross-entropy over the full catalogue by default (``loss="ce"``,
      as SASRec's); ``loss="bce"`` is closer to the paper's, but with one uniformly drawn negative
      per target (the paper draws 3 of the user's unseen items);
    - the paper predicts the next T = 3 items from each window ("skip" behaviour); ``n_targets``
      does the same (each of the T items is a target of z), but the default is T = 1, the task
      evaluated here (the next item only);
    - AdamW with decoupled decay ``reg`` (default 0; the paper's L2 is 1e-6) instead of Adam with
      an L2 term; early stopping on validation NDCG@10 instead of a fixed number of epochs.

    Parameters
    ----------
    n_factors : d, the item embedding size and the size of z (the paper's d = 50).
    max_len : L, the items read (the paper's L = 5); a longer history keeps its L most recent.
    n_h : horizontal filters of each height 1..L (16). n_v : vertical filters (4; 0 for none).
    n_targets : T, the next items each window predicts. dropout : on the convolution features.
    loss : "ce" or "bce" (see above).
    n_epochs, batch_size, lr, reg, patience, device, seed, progress : see `reclab.models.SASRec`.

    The defaults are the paper's (d = 50, L = 5, n_h = 16, n_v = 4, dropout 0.5, batch 512,
    lr 1e-3), untuned. On ml-100k (leave-last-out, full ranking, scored from
    ``split.history("test")``, one seed, one torch thread on a shared 2-core machine): best epoch
    17 of 27 (validation NDCG@10 0.109), fit 223 s (8 s an epoch); test HR@10 0.182
    [0.158, 0.206] and NDCG@10 0.104 [0.088, 0.119] (95% bootstrap intervals over 943 users).

    Examples
    --------
    >>> model = Caser().fit(split.train, valid=split.valid)                  # doctest: +SKIP
    >>> scores = model.score([0, 1], history=split.history("test"))         # doctest: +SKIP
    """

    _params = {**SequenceRecommender._params, "n_h": Int(1), "n_v": Int(0), "n_targets": Int(1),
               "loss": Choice("ce", "bce")}

    def __init__(self, *, n_factors: int = 50, max_len: int = 5, n_h: int = 16, n_v: int = 4, n_targets: int = 1,
                 dropout: float = 0.5, loss: str = "ce", n_epochs: int = 200, batch_size: int = 512,
                 lr: float = 1e-3, reg: float = 0.0, patience: int = 10, device: str = "auto", seed: int = 0,
                 progress: bool = False):
        self.n_factors, self.max_len, self.n_h, self.n_v, self.n_targets = n_factors, max_len, n_h, n_v, n_targets
        self.dropout, self.loss, self.n_epochs, self.batch_size = dropout, loss, n_epochs, batch_size
        self.lr, self.reg, self.patience, self.device = lr, reg, patience, device
        self.seed, self.progress = seed, progress

    def _build_net(self) -> CaserNet:
        return CaserNet(self.n_items_, int(self.n_factors), int(self.max_len), int(self.n_h), int(self.n_v),
                        float(self.dropout), self.loss)

    def _batches(self, sequences):
        inputs, targets = windows(sequences, int(self.max_len), int(self.n_targets))  # (n, L), (n, T)
        size = int(self.batch_size)

        def batches(rng: np.random.Generator):
            order = rng.permutation(len(inputs))  # windows have the same width: no bucketing needed
            for start in range(0, len(order), size):
                rows = order[start: start + size]
                yield {"items": torch.from_numpy(inputs[rows]), "targets": torch.from_numpy(targets[rows])}

        return batches
