"""SASRec: self-attentive sequential recommendation.

Kang, W.-C. & McAuley, J. (2018). "Self-Attentive Sequential Recommendation". IEEE ICDM 2018,
pp. 197–206. https://arxiv.org/abs/1808.09781

A user's history is a sentence whose words are items; a small causal Transformer reads it and,
at every position t, predicts the item at t + 1. The default loss is the cross-entropy over the
whole catalogue, which Klenitskiy & Vasilev (RecSys 2023, "Turning Dross Into Gold Loss: is
BERT4Rec really better than SASRec?") show beats the paper's sampled binary cross-entropy.

Built bottom-up: SelfAttention → Block → SASRecNet (the nn.Module) → SASRec (the recommender).
`SelfAttention` and `Block` are reused by BERT4Rec, which differs only in the mask.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._sequence import PositionalItemNet, SequenceRecommender, crop, next_item_loss
from .base import Choice, Int


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention: softmax(Q Kᵀ / √d_head + mask) V."""

    def __init__(self, d: int, n_heads: int):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"n_factors={d} must be divisible by n_heads={n_heads}.")
        self.qkv = nn.Linear(d, 3 * d)  # the three projections in one matmul
        self.proj = nn.Linear(d, d)
        self.n_heads = n_heads

    def forward(self, x: torch.Tensor, mask: torch.Tensor, return_weights: bool = False):
        """x (B, L, d); mask (B, 1, L, L) bool, True where query i may look at key j.

        Returns the output (B, L, d) and, with ``return_weights``, the attention (B, H, L, L).
        """
        B, L, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (t.view(B, L, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, H, L, dh)
        weights = None
        if return_weights:  # the explicit formula, to look at the weights
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, L, L)
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            y = weights @ v
        else:  # the same formula in one fused kernel (no dropout on the weights: that keeps it fused)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, L, d)  # heads side by side again
        return self.proj(y), weights


class Block(nn.Module):
    """Pre-norm Transformer block: x + attention(LN(x)), then x + feed-forward(LN(x))."""

    def __init__(self, d: int, n_heads: int, dropout: float, d_ff: int | None = None, activation: type = nn.ReLU):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, n_heads)
        self.ff = nn.Sequential(nn.Linear(d, d_ff or d), activation(), nn.Dropout(dropout), nn.Linear(d_ff or d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, return_weights: bool = False):
        a, weights = self.attn(self.ln1(x), mask, return_weights)
        x = x + self.drop(a)
        return x + self.drop(self.ff(self.ln2(x))), weights


def attention_mask(items: torch.Tensor, causal: bool) -> torch.Tensor:
    """(B, 1, L, L) bool: query i may attend key j if j is an item (not padding) and, when causal, j ≤ i.

    Every position may attend to itself, so a padding row is never all-False (which would give NaN).
    """
    L = items.shape[1]
    eye = torch.eye(L, dtype=torch.bool, device=items.device)
    mask = (items > 0)[:, None, None, :]  # (B, 1, 1, L) keys that are items
    if causal:
        mask = mask & torch.ones(L, L, dtype=torch.bool, device=items.device).tril()
    return mask | eye


class SASRecNet(PositionalItemNet):
    """Item + learned position embeddings → causal blocks → dot product with the item embeddings."""

    def __init__(self, n_items: int, d: int, n_blocks: int, n_heads: int, max_len: int, dropout: float, loss: str):
        super().__init__(n_items + 1, d, max_len, dropout)  # item row 0: padding
        self.blocks = nn.ModuleList(Block(d, n_heads, dropout) for _ in range(n_blocks))
        self.ln = nn.LayerNorm(d)
        self.loss_kind = loss

    def forward(self, items: torch.Tensor, return_weights: bool = False):
        """items (B, L) left-padded shifted ids → hidden (B, L, d) [and a list of (B, H, L, L) weights]."""
        x = self.embed(items)
        mask = attention_mask(items, causal=True)
        maps = []
        for block in self.blocks:
            x, weights = block(x, mask, return_weights)
            maps.append(weights)
        x = self.ln(x)
        return (x, maps) if return_weights else x

    def item_table(self) -> torch.Tensor:
        """(n_items + 1, d) the embedding of every item, row 0 padding: read at the input and the output.

        Here the ID embedding table; `reclab.models.lm.TextSASRecNet` builds it from item texts.
        """
        return self.item_emb.weight

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return next_item_loss(self(batch["items"]), batch["targets"], self.item_table()[1:], self.loss_kind)

    def score(self, items: torch.Tensor) -> torch.Tensor:
        """Scores (B, n_items) of the item after each left-padded sequence in items (B, L)."""
        return self(items)[:, -1] @ self.item_table()[1:].T

    def predict(self, items: torch.Tensor) -> torch.Tensor:
        """The same as `score` (the name notebook 07 uses)."""
        return self.score(items)


class SASRec(SequenceRecommender):
    """SASRec: a causal Transformer over each user's time-ordered history.

    Deviations from the paper:

    - loss: full-catalogue softmax cross-entropy by default (``loss="ce"``, Klenitskiy & Vasilev
      2023); ``loss="bce"`` is the paper's, but its one negative per position is drawn uniformly
      from the catalogue (it may be an item the user has), not from the user's unseen items;
    - blocks are pre-norm (LN → attention → residual; LN → feed-forward → residual; a final LN),
      as in GPT-2; the paper normalises the queries but not the keys;
    - padding is on the left and positions count back from the most recent item; batches group
      users of similar length, so a batch is padded only to its longest history (the same
      numbers as padding everyone to ``max_len``, for less work);
    - dropout on the embeddings, the attention output and the feed-forward layer, not on the
      attention weights: without it PyTorch's fused attention kernel applies, about twice as fast;
    - batches of 32 histories instead of 128: ml-100k has only 943 users, so 128 gives 8 optimiser
      steps an epoch; 32 reaches the best validation epoch in fewer epochs (16 instead of 21 when
      this was chosen; 22 with one torch thread on the machine of the latest notebook run), each a
      little cheaper (smaller logit tensors);
    - weight decay is AdamW's decoupled decay (``reg``) instead of an L2 term on the embeddings;
    - early stopping on validation NDCG@10 (full ranking) instead of a fixed number of epochs.

    Parameters
    ----------
    n_factors : the model width d (embeddings and attention).
    n_blocks, n_heads : Transformer blocks and attention heads.
    max_len : the longest history read; a longer one is truncated to its most recent items.
    dropout : on the embeddings and on each block's attention and feed-forward outputs.
    loss : "ce" or "bce" (see above).
    n_epochs, batch_size, lr, reg, patience : training (see `reclab.train.fit_net`).
    device : "auto", "cpu", "cuda" or "mps". seed : initialisation, dropout and shuffling.
    progress : show a progress bar while fitting.

    The defaults (dropout 0.2, lr 3e-3, one head) were chosen on ml-100k's validation part among
    dropout 0.2 / 0.3 / 0.5, lr 1e-3 / 3e-3 and one or two heads: the differences were within
    the noise of 943 validation users, and lr 3e-3 reaches the best epoch about twice as fast.
    Batch size 32 was then chosen over 128 on validation NDCG@10 (0.107 against 0.098).

    Examples
    --------
    >>> model = SASRec(n_epochs=200).fit(split.train, valid=split.valid)   # doctest: +SKIP
    >>> items, scores = model.recommend([0, 1], k=10)                       # doctest: +SKIP
    >>> items, scores = model.recommend([0, 1], k=10, history=split.history("test"))  # doctest: +SKIP
    """

    _params = {**SequenceRecommender._params, "n_blocks": Int(1), "n_heads": Int(1), "loss": Choice("ce", "bce")}

    def __init__(self, *, n_factors: int = 64, n_blocks: int = 2, n_heads: int = 1, max_len: int = 200,
                 dropout: float = 0.2, loss: str = "ce", n_epochs: int = 200, batch_size: int = 32,
                 lr: float = 3e-3, reg: float = 0.0, patience: int = 10, device: str = "auto", seed: int = 0,
                 progress: bool = False):
        self.n_factors, self.n_blocks, self.n_heads, self.max_len = n_factors, n_blocks, n_heads, max_len
        self.dropout, self.loss, self.n_epochs, self.batch_size = dropout, loss, n_epochs, batch_size
        self.lr, self.reg, self.patience, self.device = lr, reg, patience, device
        self.seed, self.progress = seed, progress

    def _fit(self, train, valid) -> None:
        if self.n_factors % self.n_heads:  # a rule between two arguments: no table expresses it
            raise ValueError(f"n_factors={self.n_factors!r} is not valid with n_heads={self.n_heads!r}: it must be "
                             "divisible by n_heads (each head reads n_factors // n_heads dimensions).")
        super()._fit(train, valid)

    def _build_net(self) -> SASRecNet:
        return SASRecNet(self.n_items_, int(self.n_factors), int(self.n_blocks), int(self.n_heads), int(self.max_len),
                         float(self.dropout), self.loss)

    def _batches(self, sequences):
        return self._next_item_batches(sequences)

    def attention_maps(self, users, *, history=None):
        """Attention weights of every block for the history each user's score continues.

        Returns, for one user (an int), ``(items, weights)``: items (L,) the 0-based ids read
        (most recent last), weights (n_blocks, n_heads, L, L) with row i the attention of position
        i over positions ≤ i (rows sum to 1). For many users, a list of such pairs. ``history``
        is the one `score` would read (default: the training data).
        """
        single = np.ndim(users) == 0
        users = self._check_users(users)
        out = []
        device = self.device_
        self.net_.eval()
        with torch.no_grad():
            for sequence in self._histories(users, history):
                x = crop(self._pad([sequence]))
                _, maps = self.net_(torch.from_numpy(x).to(device), return_weights=True)
                L = int((x > 0).sum())  # the items read, without padding
                weights = torch.stack([m[0, :, x.shape[1] - L:, x.shape[1] - L:] for m in maps])  # (blocks, H, L, L)
                out.append((x[0, x.shape[1] - L:] - 1, weights.float().cpu().numpy()))
        return out[0] if single else out
