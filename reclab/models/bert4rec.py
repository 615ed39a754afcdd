"""BERT4Rec: a bidirectional Transformer trained to fill in masked items of a user's history.

Sun, F., Liu, J., Wu, J., Pei, C., Lin, X., Ou, W. & Jiang, P. (2019). "BERT4Rec: Sequential
Recommendation with Bidirectional Encoder Representations from Transformer". CIKM 2019,
pp. 1441–1450. https://arxiv.org/abs/1904.06690

Where SASRec reads left to right, BERT4Rec hides random items (the "Cloze" task) and lets every
position see the whole history. To recommend, append a mask token after the history and ask what
it hides. Petrov & Macdonald (RecSys 2022, "A Systematic Review and Replicability Study of
BERT4Rec for Sequential Recommendation") found it needs far longer training than SASRec to match
the paper's numbers.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ._sequence import SequenceRecommender, bucket_batches, crop, next_item_loss, pad_left
from .sasrec import Block, attention_mask


class BERT4RecNet(nn.Module):
    """Item + position embeddings → bidirectional blocks → output head → dot product with the items."""

    def __init__(self, n_items: int, d: int, n_blocks: int, n_heads: int, max_len: int, dropout: float):
        super().__init__()
        self.item_emb = nn.Embedding(n_items + 2, d, padding_idx=0)  # 0: padding, n_items + 1: mask
        self.pos_emb = nn.Embedding(max_len, d)
        nn.init.normal_(self.item_emb.weight, std=d ** -0.5)
        nn.init.normal_(self.pos_emb.weight, std=d ** -0.5)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d, n_heads, dropout, d_ff=4 * d, activation=nn.GELU)
                                    for _ in range(n_blocks))
        self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self.bias = nn.Parameter(torch.zeros(n_items))
        self.n_items, self.max_len = n_items, max_len

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """items (B, L) left-padded shifted ids (with mask tokens) → hidden (B, L, d)."""
        L = items.shape[1]
        pos = torch.arange(self.max_len - L, self.max_len, device=items.device)  # counted back from the end
        x = self.drop(self.item_emb(items) * math.sqrt(self.item_emb.embedding_dim) + self.pos_emb(pos))
        mask = attention_mask(items, causal=False)  # every item sees every other item
        for block in self.blocks:
            x, _ = block(x, mask)
        return self.head(x)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        items = self.item_emb.weight[1: self.n_items + 1]
        return next_item_loss(self(batch["items"]), batch["targets"], items, "ce", bias=self.bias)

    def predict(self, items: torch.Tensor) -> torch.Tensor:
        """Scores (B, n_items) of the item hidden by the last token (the appended mask)."""
        return self(items)[:, -1] @ self.item_emb.weight[1: self.n_items + 1].T + self.bias


class BERT4Rec(SequenceRecommender):
    """BERT4Rec: masked item prediction with a bidirectional Transformer.

    Deviations from the paper:

    - pre-norm blocks (as in SASRec here) instead of BERT's post-norm; the output head is
      LN → linear → GELU → LN, then the dot product with the (tied) item embeddings plus a bias;
    - masking is done per batch with the epoch's seeded rng: each item is masked with probability
      ``mask_prob`` (a sequence with no masked item gets its last item masked); instead of the
      paper's extra training samples that mask only the last item, a share ``last_prob`` of the
      sequences in each batch is masked that way;
    - positions count back from the most recent token (so padding never shifts them), and a
      masked token is always the id ``n_items + 1`` (BERT's 80/10/10 replacement is not used);
    - full-catalogue softmax, Adam (AdamW with ``reg``), early stopping on validation NDCG@10.

    Parameters
    ----------
    mask_prob : the share of items hidden in each training sequence (the paper's ρ: 0.2 for
        MovieLens-1M; 0.4 tuned on ml-100k's validation part, with dropout 0.1).
    last_prob : the share of training sequences that hide only their last item, which is the
        task BERT4Rec solves when it recommends.
    Others : as `reclab.models.SASRec` (defaults: 2 blocks, 2 heads, d = 64, max_len 200).

    Examples
    --------
    >>> model = BERT4Rec().fit(split.train, valid=split.valid)   # doctest: +SKIP
    """

    def __init__(self, *, n_factors: int = 64, n_blocks: int = 2, n_heads: int = 2, max_len: int = 200,
                 dropout: float = 0.1, mask_prob: float = 0.4, last_prob: float = 0.1, n_epochs: int = 400,
                 batch_size: int = 128, lr: float = 3e-3, reg: float = 0.0, patience: int = 20, device: str = "auto", seed: int = 0,
                 progress: bool = False):
        self.n_factors, self.n_blocks, self.n_heads, self.max_len = n_factors, n_blocks, n_heads, max_len
        self.dropout, self.mask_prob, self.last_prob = dropout, mask_prob, last_prob
        self.n_epochs, self.batch_size = n_epochs, batch_size
        self.lr, self.reg, self.patience, self.device = lr, reg, patience, device
        self.seed, self.progress = seed, progress

    def _check_params(self) -> None:
        super()._check_params()
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"mask_prob={self.mask_prob!r} must be in (0, 1), e.g. 0.2.")
        if not 0 <= self.last_prob <= 1:
            raise ValueError(f"last_prob={self.last_prob!r} must be in [0, 1], e.g. 0.1.")
        if self.max_len < 2:
            raise ValueError(f"max_len={self.max_len} must be >= 2: one item and the mask token.")

    def _build_net(self) -> BERT4RecNet:
        return BERT4RecNet(self.n_items_, self.n_factors, self.n_blocks, self.n_heads, self.max_len, self.dropout)

    def _batches(self, sequences):
        padded = pad_left([s for s in sequences if len(s) >= 2], self.max_len)  # (n, max_len)
        lengths = (padded > 0).sum(axis=1)
        mask_id = self.n_items_ + 1

        def batches(rng: np.random.Generator):
            for rows in bucket_batches(lengths, self.batch_size, rng):
                x = crop(padded[rows])
                hide = (rng.random(x.shape) < self.mask_prob) & (x > 0)  # (B, L)
                hide[~hide.any(axis=1), -1] = True  # at least one target per sequence
                last_only = rng.random(len(x)) < self.last_prob  # rehearse the inference task
                hide[last_only] = False
                hide[last_only, -1] = True
                yield {"items": torch.from_numpy(np.where(hide, mask_id, x)),  # (B, L) with mask tokens
                       "targets": torch.from_numpy(np.where(hide, x, 0))}  # the hidden items, 0 elsewhere

        return batches

    def _inputs(self, sequences: list[np.ndarray]) -> np.ndarray:
        """The last max_len − 1 items, then the mask token whose hidden item is the prediction."""
        mask = np.array([self.n_items_ + 1])
        kept = [s[max(len(s) - self.max_len + 1, 0):] for s in sequences]
        return pad_left([np.concatenate([s, mask]) for s in kept], self.max_len)
