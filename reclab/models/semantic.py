"""Generative retrieval over semantic item IDs (TIGER).

Rajput, S. et al. (2023). "Recommender Systems with Generative Retrieval". NeurIPS 2023.
https://arxiv.org/abs/2305.05065

Each item gets a short tuple of codes from its content vector (MiniLM by default): residual
k-means picks the nearest of ``codes`` centroids, subtracts it, and quantises what is left, for
``levels`` levels; items whose tuples collide get one more code that tells them apart. A history
becomes a sentence of code tokens, a causal Transformer (SASRec's blocks) reads it, and the next
item is *generated* code by code; a beam search constrained by the prefix trie of the real items
can only produce real items. Items with similar descriptions share their first codes, so what the
model learns about one transfers to its neighbours.

Built bottom-up: `semantic_ids` (the tokenizer) → `PrefixTrie` → `SemanticIDNet` (the
nn.Module) → `SemanticIDRec` (the recommender).
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Interactions
from ._sequence import bucket_batches, crop, item_embedding, pad_left
from ._torch import TorchRecommender
from .base import Bool, Choice, Int, Real
from .sasrec import Block, attention_mask

PAD, BOS = 0, 1  # token ids; level l's codes are the tokens offsets[l] .. offsets[l] + sizes[l] - 1


# ------------------------------------------------------------------------------ the tokenizer
def _count(name: str, value, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r} must be an int, e.g. {name}={max(low, 3)}.")
    if value < low:
        raise ValueError(f"{name}={int(value)} is not valid: it must be an int >= {low}.")
    return int(value)


def semantic_ids(vectors, levels: int = 3, codes: int = 32, *, seed: int = 0) -> np.ndarray:
    """Semantic IDs by residual k-means: an int64 array (n_items, levels + 1).

    Column l < levels is the k-means code (0..codes-1) of level l: level 0 clusters the vectors,
    level l clusters what is left after subtracting each item's centroids of the levels before
    (scikit-learn's KMeans, seeded with ``seed + l``; centroids are the means of their items).
    The last column resolves collisions: items sharing all ``levels`` codes get 0, 1, 2, ... in
    item order, so every row is unique; ``(ids[:, -1] > 0).sum()`` is the number of collisions.

    Parameters
    ----------
    vectors : (n_items, dim) finite item vectors.
    levels : k-means levels (>= 1).
    codes : centroids per level (>= 2, and at most the number of items).

    Raises
    ------
    ValueError
        When a level has fewer distinct residual vectors than ``codes``: the levels before it
        already describe the items exactly, so ``levels`` is more than these items allow.

    Examples
    --------
    >>> semantic_ids(np.array([[-11.0], [-9.0], [-9.0], [9.0], [11.0]]), levels=2, codes=2).shape
    (5, 3)
    """
    levels, codes, seed = _count("levels", levels, 1), _count("codes", codes, 2), _count("seed", seed, 0)
    try:
        X = np.array(vectors, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"vectors must be a numeric (n_items, dim) array, got {type(vectors).__name__} ({error}).") from None
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"vectors must be a 2-D (n_items, dim) array with at least one row and column, "
                         f"got shape {X.shape}; pass one row per item, e.g. embed_texts(texts).")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad):
        raise ValueError(f"vectors has {len(bad)} row(s) with NaN or infinite values (first: item {bad[0]}); "
                         "fix or re-encode those items: k-means needs finite vectors.")
    if X.shape[0] < codes:
        raise ValueError(f"codes={codes} is more than the {X.shape[0]} items: k-means cannot form {codes} "
                         f"clusters from {X.shape[0]} vectors; use codes <= {X.shape[0]}.")
    from sklearn.cluster import KMeans

    out = np.zeros((X.shape[0], levels + 1), np.int64)
    residual = X
    for level in range(levels):
        distinct = len(np.unique(residual, axis=0))
        if distinct < codes:
            raise ValueError(f"levels={levels} is more than these {X.shape[0]} items allow with codes={codes}: after "
                             f"{level} level(s) only {distinct} distinct residual vector(s) are left, fewer than "
                             f"{codes} clusters; use levels={level} or fewer codes.")
        labels = KMeans(n_clusters=codes, n_init=3, random_state=seed + level).fit(residual).labels_
        centroids = np.stack([residual[labels == c].mean(axis=0) for c in range(codes)])
        out[:, level] = labels
        residual = residual - centroids[labels]
    out[:, levels] = pd.DataFrame(out[:, :levels]).groupby(list(range(levels)), sort=False).cumcount().to_numpy()
    return out


class PrefixTrie:
    """The code tuples of the real items as a trie: which code may follow a prefix, and whose item it is.

    ``children[l]`` is an int64 (n_nodes_l, sizes[l]) table: the node reached from node n of depth l
    by code c (the item index at the last level), or -1 when no item has that prefix. Node 0 of
    depth 0 is the root; node -1 stands for an invalid prefix and has no children.
    """

    def __init__(self, ids: np.ndarray, sizes):
        ids = np.asarray(ids, np.int64)
        self.sizes = [int(s) for s in sizes]
        assert ids.ndim == 2 and ids.shape[1] == len(self.sizes) and (ids.max(axis=0) < self.sizes).all()
        assert len(np.unique(ids, axis=0)) == len(ids), "semantic ids must be unique"
        self.children, nodes, n_nodes = [], np.zeros(len(ids), np.int64), 1
        for level, size in enumerate(self.sizes):
            table = np.full((n_nodes, size), -1, np.int64)
            key = nodes * size + ids[:, level]
            if level < len(self.sizes) - 1:
                unique, nodes = np.unique(key, return_inverse=True)
                table.flat[unique], n_nodes = np.arange(len(unique)), len(unique)
            else:
                table.flat[key] = np.arange(len(ids))
            self.children.append(table)

    def allowed(self, level: int, nodes: np.ndarray) -> np.ndarray:
        """Bool (*nodes.shape, sizes[level]): the codes that continue each node to a real item."""
        nodes = np.asarray(nodes)
        return (self.children[level][np.maximum(nodes, 0)] >= 0) & (nodes >= 0)[..., None]

    def step(self, level: int, nodes: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The nodes (items, after the last level) reached by ``codes``; -1 where the prefix is invalid."""
        nodes, codes = np.asarray(nodes), np.asarray(codes)
        return np.where(nodes >= 0, self.children[level][np.maximum(nodes, 0), codes], -1)


# ------------------------------------------------------------------------------ the net
class SemanticIDNet(nn.Module):
    """Token + position embeddings → causal SASRec blocks → next-code log-probabilities, level by level.

    The sequence is BOS, then each history item's ``L = len(sizes)`` code tokens, then those of the
    item being generated. Positions count back from the last code of the generated item, so the
    history keeps the same positions whatever part of the next item is already written.
    """

    def __init__(self, sizes: list[int], d: int, n_blocks: int, n_heads: int, max_len: int, dropout: float):
        super().__init__()
        self.sizes, self.n_heads = [int(s) for s in sizes], n_heads
        offsets = 2 + np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.offsets = [int(o) for o in offsets]
        n_tokens = 2 + sum(self.sizes)
        self.n_positions = 1 + (max_len + 1) * len(self.sizes)  # BOS, max_len history items, the next item
        self.tok_emb = item_embedding(n_tokens, d)
        self.pos_emb = nn.Embedding(self.n_positions, d)
        nn.init.normal_(self.pos_emb.weight, std=d ** -0.5)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d, n_heads, dropout) for _ in range(n_blocks))
        self.ln = nn.LayerNorm(d)
        level = torch.full((n_tokens,), -1, dtype=torch.long)  # the code level of each token (-1: PAD, BOS)
        for l, (o, s) in enumerate(zip(self.offsets, self.sizes)):
            level[o: o + s] = l
        self.register_buffer("level", level, persistent=False)

    def embed(self, tokens: torch.Tensor, first: int) -> torch.Tensor:
        """tokens (..., S) whose first column sits at position ``first`` → (..., S, d)."""
        pos = torch.arange(first, first + tokens.shape[-1], device=tokens.device)
        return self.drop(self.tok_emb(tokens) * math.sqrt(self.tok_emb.embedding_dim) + self.pos_emb(pos))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, S) left-padded, last column = the generated item's last code → hidden (B, S, d)."""
        x = self.embed(tokens, self.n_positions - tokens.shape[1])
        mask = attention_mask(tokens, causal=True)
        for block in self.blocks:
            x, _ = block(x, mask)
        return self.ln(x)

    def level_log_probs(self, hidden: torch.Tensor, level: int) -> torch.Tensor:
        """(..., d) → (..., sizes[level]) log-probabilities of level ``level``'s codes."""
        o, s = self.offsets[level], self.sizes[level]
        return torch.log_softmax(hidden.float() @ self.tok_emb.weight[o: o + s].float().T, dim=-1)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of every next code token, over the codes of its level."""
        tokens = batch["tokens"]
        hidden, targets = self(tokens)[:, :-1], tokens[:, 1:]
        level = self.level[targets]
        keep = level >= 0
        h, y, level = hidden[keep], targets[keep], level[keep]  # (N, d), (N,), (N,)
        logits = h.float() @ self.tok_emb.weight.float().T  # (N, n_tokens)
        logits = logits.masked_fill(self.level[None, :] != level[:, None], float("-inf"))
        return F.cross_entropy(logits, y)

    def encode(self, tokens: torch.Tensor):
        """History tokens (B, T) left-padded (BOS first) → last hidden (B, d) and the cache of keys and values."""
        L = len(self.sizes)
        x = self.embed(tokens, self.n_positions - L - tokens.shape[1])
        mask = attention_mask(tokens, causal=True)
        cache = []
        for block in self.blocks:
            B, T, d = x.shape
            _, k, v = block.attn.qkv(block.ln1(x)).split(d, dim=2)
            k, v = (t.view(B, T, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (k, v))  # (B, H, T, dh)
            cache.append((k, v))
            x, _ = block(x, mask)
        return self.ln(x)[:, -1], (cache, tokens > 0)

    def decode(self, cache, prefix: torch.Tensor) -> torch.Tensor:
        """Prefix tokens (B or 1, M, Q) of M candidate next items → hidden (B, M, Q, d), after the cached history.

        The same arithmetic as `forward` on [history, prefix], with the history's keys and values reused.
        """
        (kv, keys), Q = cache, prefix.shape[-1]
        x = self.embed(prefix, self.n_positions - len(self.sizes))
        causal = torch.ones(Q, Q, dtype=torch.bool, device=prefix.device).tril()
        for block, (k_h, v_h) in zip(self.blocks, kv):
            d = x.shape[-1]
            q, k, v = block.attn.qkv(block.ln1(x)).split(d, dim=-1)
            q, k, v = (t.unflatten(-1, (self.n_heads, d // self.n_heads)).transpose(-2, -3) for t in (q, k, v))
            scale = q.shape[-1] ** -0.5  # q, k, v: (B', M, H, Q, dh)
            s_hist = (q @ k_h[:, None].transpose(-1, -2)) * scale  # (B, M, H, Q, T)
            s_hist = s_hist.masked_fill(~keys[:, None, None, None, :], float("-inf"))
            s_self = ((q @ k.transpose(-1, -2)) * scale).masked_fill(~causal, float("-inf"))
            s_self = s_self.expand(*s_hist.shape[:-1], Q)
            w = torch.softmax(torch.cat([s_hist, s_self], dim=-1), dim=-1)
            T = s_hist.shape[-1]
            y = w[..., :T] @ v_h[:, None] + w[..., T:] @ v  # (B, M, H, Q, dh)
            y = y.transpose(-2, -3).flatten(-2)  # (B, M, Q, d)
            x = x + block.drop(block.attn.proj(y))
            x = x + block.drop(block.ff(block.ln2(x)))
        return self.ln(x)

    def log_probs(self, last: torch.Tensor, cache, ids: torch.Tensor) -> torch.Tensor:
        """log P(code tuple | history) of candidates ids (B or 1, M, L) → (B, M), teacher-forced."""
        B, M = last.shape[0], ids.shape[1]
        ids = ids.expand(B, M, ids.shape[2]) if ids.shape[0] == 1 else ids
        total = self.level_log_probs(last, 0).gather(1, ids[..., 0])  # (B, M)
        if len(self.sizes) > 1:
            offsets = torch.tensor(self.offsets[:-1], device=ids.device)
            hidden = self.decode(cache, ids[..., :-1] + offsets)  # (B, M, L-1, d)
            for level in range(1, len(self.sizes)):
                lp = self.level_log_probs(hidden[:, :, level - 1], level)  # (B, M, sizes[level])
                total = total + lp.gather(2, ids[..., level, None])[..., 0]
        return total


# ------------------------------------------------------------------------------ the recommender
class Generated(NamedTuple):
    """What `SemanticIDRec.generate` returns: items (n, k), -1 where a code tuple is no item;
    their log-probabilities (n, k); and the share of the n × k tuples that are no item."""

    items: np.ndarray
    scores: np.ndarray
    invalid_share: float


class SemanticIDRec(TorchRecommender):
    """TIGER-style generative retrieval: a causal Transformer writes the next item's semantic ID.

    ``score`` is exact: the log-probability of every item's code tuple given the history,
    teacher-forced (n_items × L code positions per user, with the history's keys and values
    computed once), so `recommend` and `reclab.evaluate` rank the whole catalogue as for any
    model. `generate` is the generative path: a beam search over codes, constrained by the
    `PrefixTrie` (only real items) or not (some tuples are no item: ``invalid_share``). The
    constrained beam ranks by the same log-probability, so with a beam wide enough to keep every
    prefix it returns the top of ``score``.

    Deviations from the paper:

    - the quantiser is residual k-means (seeded scikit-learn KMeans), not an RQ-VAE; collisions
      get one extra code, as in the paper, and their number is ``n_collisions_``;
    - a decoder-only Transformer (SASRec's pre-norm causal blocks, tied token embeddings) over
      BOS + the history's code tokens, not an encoder–decoder T5; every code of every item is a
      training target (the paper trains on the target item's codes only);
    - each level's softmax is over that level's codes only; the constrained beam masks codes
      that leave the trie without renormalising, so its scores are `score`'s log-probabilities;
    - item vectors: MiniLM of "Title (year) — genres" (``encoder="minilm"``), TF-IDF of the same
      metadata (``"tfidf"``), or random Gaussian vectors (``"random"``: the paper's random-ID
      ablation);
    - early stopping on the validation log-likelihood of each user's validation item (cheap,
      exact), not NDCG@10: a full score costs n_items × L positions per user.

    Parameters
    ----------
    encoder : "minilm", "tfidf" or "random" (see above). levels, codes : see `semantic_ids`.
    n_factors, n_blocks, n_heads, dropout : the Transformer (as SASRec).
    max_len : the most recent history *items* read (each is L tokens).
    beam : the beam width of `generate`; at most the number of items (a wider beam is refused).
    n_epochs, batch_size, lr, reg, patience, device, seed, progress : as SASRec.

    Examples
    --------
    >>> model = SemanticIDRec().fit(split.train, valid=split.valid)                    # doctest: +SKIP
    >>> model.generate([0, 1], k=10, history=split.history("test")).items.shape        # doctest: +SKIP
    (2, 10)
    """

    _state = ("net_", "ids_")
    _shapes = {"ids_": ("I", "L")}
    _params = {
        "encoder": Choice("minilm", "tfidf", "random"), "levels": Int(1), "codes": Int(2), "n_factors": Int(1),
        "n_blocks": Int(1), "n_heads": Int(1), "max_len": Int(1), "dropout": Real(0, 1, high_open=True),
        "beam": Int(1), "n_epochs": Int(1), "batch_size": Int(1), "lr": Real(0, low_open=True), "reg": Real(0),
        "patience": Int(1, none=True), "seed": Int(0), "progress": Bool(),
    }

    def __init__(self, *, encoder: str = "minilm", levels: int = 3, codes: int = 32, n_factors: int = 64,
                 n_blocks: int = 2, n_heads: int = 1, max_len: int = 50, dropout: float = 0.2, beam: int = 20,
                 n_epochs: int = 200, batch_size: int = 32, lr: float = 3e-3, reg: float = 0.0, patience: int = 10,
                 device: str = "auto", seed: int = 0, progress: bool = False):
        self.encoder, self.levels, self.codes, self.n_factors = encoder, levels, codes, n_factors
        self.n_blocks, self.n_heads, self.max_len, self.dropout, self.beam = n_blocks, n_heads, max_len, dropout, beam
        self.n_epochs, self.batch_size, self.lr, self.reg, self.patience = n_epochs, batch_size, lr, reg, patience
        self.device, self.seed, self.progress = device, seed, progress

    # ------------------------------------------------------------------ fitting
    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        if self.n_factors % self.n_heads:
            raise ValueError(f"n_factors={self.n_factors!r} is not valid with n_heads={self.n_heads!r}: it must be "
                             "divisible by n_heads.")
        if self.beam > train.n_items:
            raise ValueError(f"beam={self.beam!r} is wider than the catalogue of {train.n_items} items; "
                             f"use beam <= {train.n_items}.")
        self.ids_ = semantic_ids(self._vectors(train), self.levels, self.codes, seed=int(self.seed))
        self.net_ = self._new_net()
        tokens = [self._tokens(s, int(self.max_len) + 1) for s in self._sequences(train)]
        lengths = np.array([len(t) for t in tokens])

        def batches(rng: np.random.Generator):
            for rows in bucket_batches(lengths, int(self.batch_size), rng):
                yield {"tokens": torch.from_numpy(crop(pad_left([tokens[r] for r in rows], int(lengths[rows].max()))))}

        validate = None
        if valid is not None and len(valid):
            users, items = valid.ratings["user"].to_numpy(), valid.ratings["item"].to_numpy()
            histories = [self._sequences(train)[u] for u in users]
            validate = lambda net: float(np.mean(self._log_probs(histories, items[:, None])))  # noqa: E731
        from ..train import fit_net

        self.history_ = fit_net(
            self.net_, batches, n_epochs=int(self.n_epochs), lr=float(self.lr), weight_decay=float(self.reg),
            validate=validate, patience=self.patience if validate else None, device=self.device,
            seed=int(self.seed), progress=self.progress, name=type(self).__name__,
        )

    def _vectors(self, train: Interactions) -> np.ndarray:
        if self.encoder == "random":
            return np.random.default_rng([int(self.seed), 0x5EED]).standard_normal((train.n_items, 64))
        from .content import embed_texts, item_text, tfidf_features

        if self.encoder == "tfidf":
            return tfidf_features(train.items)[0].toarray()
        return embed_texts([item_text(row) for row in train.items.to_dict("records")])

    def _sizes(self) -> list[int]:
        return [int(self.codes)] * int(self.levels) + [int(self.ids_[:, -1].max()) + 1]

    def _build_net(self) -> SemanticIDNet:
        return SemanticIDNet(self._sizes(), int(self.n_factors), int(self.n_blocks), int(self.n_heads),
                             int(self.max_len), float(self.dropout))

    @property
    def n_collisions_(self) -> int:
        """Items whose k-means codes equal an earlier item's (told apart by the extra level)."""
        return int((self._fitted("ids_")[:, -1] > 0).sum())

    @property
    def trie_(self) -> PrefixTrie:
        if getattr(self, "_trie", (None,))[0] is not self.ids_:
            self._trie = (self.ids_, PrefixTrie(self.ids_, self._sizes()))
        return self._trie[1]

    # ------------------------------------------------------------------ tokens
    @staticmethod
    def _sequences(history: Interactions) -> list[np.ndarray]:
        return history.view("sequences", lambda h: h.sequences())

    def _tokens(self, items: np.ndarray, n: int) -> np.ndarray:
        """BOS + the code tokens of the last ``n`` items (0-based ids), flattened."""
        offsets = np.array(self.net_.offsets)
        return np.concatenate([[BOS], (self.ids_[items[max(0, len(items) - n):]] + offsets).ravel()])

    def _encode(self, histories: list[np.ndarray]):
        x = pad_left([self._tokens(h, int(self.max_len)) for h in histories],
                     1 + int(self.max_len) * len(self.net_.sizes))
        return self.net_.encode(torch.from_numpy(crop(x)).to(self.device_))

    def _log_probs(self, histories: list[np.ndarray], candidates: np.ndarray) -> np.ndarray:
        """log P(item | history) of candidates (len(histories) or 1, M) item indices → (len(histories), M)."""
        net, out = self.net_, np.empty((len(histories), candidates.shape[1]), np.float32)
        per_chunk = max(1, (1 << 22) // (candidates.shape[1] * self.net_.n_positions))  # ~50 MB of attention
        order = np.argsort([len(h) for h in histories], kind="stable")
        was_training = net.training
        net.eval()
        with torch.no_grad():
            for start in range(0, len(order), per_chunk):
                rows = order[start: start + per_chunk]
                last, cache = self._encode([histories[r] for r in rows])
                cand = candidates if len(candidates) == 1 else candidates[rows]
                ids = torch.from_numpy(self.ids_[cand]).to(self.device_)
                out[rows] = net.log_probs(last, cache, ids).cpu().numpy()
        net.train(was_training)
        return out

    # ------------------------------------------------------------------ scoring and generation
    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        sequences = self._sequences(history)
        return self._log_probs([sequences[u] for u in users], np.arange(self.n_items_)[None])

    def generate(self, users, k: int = 10, *, history: Interactions | None = None,
                 constrained: bool = True) -> Generated:
        """Beam search (width ``beam``) for the next item's code tuple, code by code.

        Returns `Generated`: items (len(users), k), best first, and their log-probabilities;
        with ``constrained=False`` a tuple that is no item gives item -1, and ``invalid_share``
        is the share of such tuples (0.0 when constrained). The history's items are not
        excluded (use `recommend` for that). Needs k <= beam.
        """
        users = self._check_users(users)
        self._check_k(k, self.n_items_)
        if k > self.beam:
            raise ValueError(f"k={k!r} is more than beam={self.beam!r}: a beam keeps only `beam` sequences; "
                             f"use k <= {self.beam}, or set model.beam = {k} (at most {self.n_items_}).")
        if self.beam > self.n_items_:
            raise ValueError(f"beam={self.beam!r} is wider than the catalogue of {self.n_items_} items; "
                             f"use beam <= {self.n_items_}.")
        if not isinstance(constrained, (bool, np.bool_)):
            raise TypeError(f"constrained={constrained!r} must be True or False.")
        sequences = self._sequences(self._check_history(history))
        items = np.empty((len(users), k), np.int64)
        scores = np.empty((len(users), k), np.float32)
        net, was_training = self.net_, self.net_.training
        net.eval()
        with torch.no_grad():
            for start in range(0, len(users), 64):
                part = slice(start, start + 64)
                items[part], scores[part] = self._beam([sequences[u] for u in users[part]], k, bool(constrained))
        net.train(was_training)
        return Generated(items, scores, float((items < 0).mean()) if items.size else 0.0)

    def _beam(self, histories: list[np.ndarray], k: int, constrained: bool):
        net, trie, beam = self.net_, self.trie_, int(self.beam)
        last, cache = self._encode(histories)
        B = len(histories)
        codes = np.zeros((B, 1, 0), np.int64)  # the beams' code prefixes (B, b, level)
        nodes = np.zeros((B, 1), np.int64)     # their trie nodes (-1: no item has this prefix)
        total = torch.zeros(B, 1, device=last.device)
        offsets = torch.tensor(net.offsets, device=last.device)
        for level, size in enumerate(net.sizes):
            if level == 0:
                lp = net.level_log_probs(last, 0)[:, None]  # (B, 1, size)
            else:
                prefix = torch.from_numpy(codes).to(last.device) + offsets[:level]
                lp = net.level_log_probs(net.decode(cache, prefix)[:, :, -1], level)  # (B, b, size)
            lp = total[..., None] + lp
            if constrained:
                lp = lp.masked_fill(~torch.from_numpy(trie.allowed(level, nodes)).to(lp.device), float("-inf"))
            total, flat = lp.flatten(1).topk(min(beam, lp.shape[1] * size), dim=1)  # (B, b)
            parent, code = (flat // size).cpu().numpy(), (flat % size).cpu().numpy()
            codes = np.concatenate([np.take_along_axis(codes, parent[..., None], 1), code[..., None]], axis=2)
            nodes = trie.step(level, np.take_along_axis(nodes, parent, 1), code)
        total = total[:, :k].cpu().numpy()
        return np.where(np.isfinite(total), nodes[:, :k], -1), total

    def _item_vectors(self) -> np.ndarray:
        """An item's vector: the sum of its code tokens' embeddings."""
        tokens = torch.from_numpy(self.ids_ + np.array(self.net_.offsets)).to(self.device_)
        return self.net_.tok_emb(tokens).sum(1).detach().float().cpu().numpy()
