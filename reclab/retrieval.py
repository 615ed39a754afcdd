"""Two-stage retrieval for large catalogues: a nearest-neighbour index of item vectors proposes a few
hundred candidates per user, and the full model re-scores only those (Covington, Adams & Sargin,
"Deep Neural Networks for YouTube Recommendations", RecSys 2016).

Scoring every item for every user costs ``n_users × n_items`` scores (`full_scoring_bytes`): 15 GB
of float32 for ml-20m, 4 TB for a million users and a million items. A factor model or SASRec
scores by an inner product ``q_u · v_i``, so the best items of a user are a maximum-inner-product
search (MIPS) over the item vectors, which an index answers in far less than ``n_items`` work:

- ``"flat"``: exact, every item compared (the reference the others are measured against);
- ``"hnsw"``: a navigable small-world graph (Malkov & Yashunin, TPAMI 2020); knobs ``M`` (links per
  node), ``ef_construction`` and ``ef_search`` (candidate lists while building / searching);
- ``"ivf"``: an inverted file (k-means cells, Jégou, Douze & Schmid, TPAMI 2011); knobs ``nlist``
  (cells) and ``nprobe`` (cells read per query).

The indexes are faiss's (Johnson, Douze & Jégou, "Billion-scale similarity search with GPUs",
2019): ``pip install faiss-cpu==1.15.1``. faiss is imported on first use only. faiss runs on
OpenMP threads; call ``faiss.omp_set_num_threads(1)`` for single-thread timings.
"""
from __future__ import annotations

import numpy as np

from .data import Interactions
from .metrics import top_k

KINDS = ("flat", "hnsw", "ivf")


def _faiss():
    try:
        import faiss
    except ImportError:  # not a dependency of the course: only this module needs it
        raise ImportError("reclab.retrieval needs faiss: pip install faiss-cpu==1.15.1") from None
    return faiss


def _check_vectors(x, name: str, dim: int | None = None) -> np.ndarray:
    """``x`` as it is, if it is a finite C-contiguous float32 (n, d) array; otherwise a ValueError."""
    fix = f"pass np.ascontiguousarray({name}, dtype=np.float32)"
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D numpy array (n, d), got shape {np.shape(x)}; {fix}.")
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous float32 (faiss reads the raw buffer), got {x.dtype}"
                         f"{'' if x.flags.c_contiguous else ', not contiguous'}; {fix}.")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} has dimension {x.shape[1]} but the index holds vectors of dimension {dim}; "
                         "query with vectors from the same model (see query_vectors and item_vectors).")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity; an inner product with them ranks nothing.")
    return x


def _check_int(value, name: str, low: int, high: int | None = None, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name}={value!r} must be an int {span}{why}.")
    return int(value)


class ItemIndex:
    """Maximum-inner-product search over item vectors with faiss: exact (flat) or approximate.

    Parameters
    ----------
    vectors : (n_items, d) C-contiguous float32 item vectors; row i is item i.
    kind : "flat" (exact), "hnsw" or "ivf" (approximate; see the module docstring).
    M, ef_construction, ef_search : HNSW's links per node and candidate-list sizes. A search
        for ``n`` items keeps max(ef_search, n) candidates (faiss alone would return fewer than n).
    nlist, nprobe : IVF's number of k-means cells (default ≈ 4√n_items) and cells read per query.
    train_per_cell : IVF's k-means runs on a random sample of at most this many items per cell
        (faiss's default 256; faiss warns below 39).
    seed : the k-means initialisation of IVF (HNSW's level draws are faiss's own, fixed).

    Attributes
    ----------
    n_items, dim : the catalogue size and vector dimension. index : the faiss index.

    Examples
    --------
    >>> index = ItemIndex(model.item_factors_, kind="hnsw", M=32)      # doctest: +SKIP
    >>> ids, scores = index.search(model.user_factors_[:5], 100)      # doctest: +SKIP
    >>> ids.shape                                                     # doctest: +SKIP
    (5, 100)
    """

    def __init__(self, vectors: np.ndarray, *, kind: str = "flat", M: int = 32, ef_construction: int = 100,
                 ef_search: int = 64, nlist: int | None = None, nprobe: int = 8, train_per_cell: int = 256,
                 seed: int = 0):
        faiss = _faiss()
        vectors = _check_vectors(vectors, "vectors")
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} is not an index kind; use one of {KINDS}.")
        self.kind, self.n_items, self.dim = kind, vectors.shape[0], vectors.shape[1]
        if self.n_items == 0:
            raise ValueError("vectors has no rows; an index needs at least one item.")
        ip = faiss.METRIC_INNER_PRODUCT
        if kind == "flat":
            index = faiss.IndexFlatIP(self.dim)
        elif kind == "hnsw":
            M = _check_int(M, "M", 2)
            index = faiss.IndexHNSWFlat(self.dim, M, ip)
            index.hnsw.efConstruction = _check_int(ef_construction, "ef_construction", 1)
            index.hnsw.efSearch = _check_int(ef_search, "ef_search", 1)
        else:
            nlist = max(1, int(round(4 * np.sqrt(self.n_items)))) if nlist is None else nlist
            nlist = _check_int(nlist, "nlist", 1, self.n_items, " (k-means needs at least one item per cell)")
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, ip)
            index.cp.seed = _check_int(seed, "seed", 0)
            index.nprobe = _check_int(nprobe, "nprobe", 1, nlist, f" (the index has nlist={nlist} cells)")
            index.cp.max_points_per_centroid = _check_int(train_per_cell, "train_per_cell", 1)
            index.train(vectors)
        index.add(vectors)
        self.index = index

    def search(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items of largest inner product with each query, best first.

        Parameters
        ----------
        queries : (n_queries, d) C-contiguous float32.
        n : candidates per query, 1 ≤ n ≤ n_items.

        Returns
        -------
        ids : int64 (n_queries, n); scores : float32 (n_queries, n), the inner products. An
        approximate index that finds fewer than ``n`` items (IVF with small ``nprobe``) pads with
        id -1 and score -inf.

        Examples
        --------
        >>> ItemIndex(np.eye(3, dtype=np.float32)).search(np.array([[0, 2, 1]], np.float32), 2)[0]
        array([[1, 2]])
        """
        queries = _check_vectors(queries, "queries", self.dim)
        n = _check_int(n, "n", 1, self.n_items, f" (the catalogue has {self.n_items} items)")
        params = None
        if self.kind == "hnsw" and self.index.hnsw.efSearch < n:  # a shorter list cannot hold n results
            params = _faiss().SearchParametersHNSW()
            params.efSearch = n
        scores, ids = self.index.search(queries, n, params=params)
        scores[ids < 0] = -np.inf  # faiss marks a missing result with id -1 and score -FLT_MAX
        return ids.astype(np.int64, copy=False), scores

    @property
    def memory_bytes(self) -> int:
        """Bytes of the index as faiss serialises it (vectors, graph links or cell lists, centroids)."""
        return int(_faiss().serialize_index(self.index).nbytes)


def index_bytes(n_items: int, dim: int, kind: str = "flat", *, M: int = 32, nlist: int | None = None) -> int:
    """The memory an `ItemIndex` of float32 vectors needs, estimated from its layout in faiss.

    - flat: the vectors, ``4 · n_items · dim``;
    - hnsw: the vectors, plus int32 neighbour slots: ``2M`` on level 0 for every item and ``M`` on
      each upper level, which an item reaches with probability ``M^-l`` (so ``M/(M-1)`` slots
      expected), plus an 8-byte offset, a 4-byte level count and a float32 draw per item;
    - ivf: the vectors, an int64 id per item, and the float32 centroids ``4 · nlist · dim``.

    Examples
    --------
    >>> index_bytes(1_000_000, 64) / 2**20
    244.140625
    """
    n_items, dim = _check_int(n_items, "n_items", 1), _check_int(dim, "dim", 1)
    vectors = 4 * n_items * dim
    if kind == "flat":
        return vectors
    if kind == "hnsw":
        M = _check_int(M, "M", 2)
        return int(vectors + n_items * (4 * (2 * M + M / (M - 1)) + 8 + 4 + 4))
    if kind == "ivf":
        nlist = max(1, int(round(4 * np.sqrt(n_items)))) if nlist is None else _check_int(nlist, "nlist", 1)
        return vectors + 8 * n_items + 4 * nlist * dim
    raise ValueError(f"kind={kind!r} is not an index kind; use one of {KINDS}.")


def full_scoring_bytes(n_users: int, n_items: int, dtype=np.float32) -> int:
    """Bytes of the dense (n_users, n_items) score matrix that ranking every item for everyone needs.

    ``n_users · n_items · itemsize``. `Recommender.recommend` builds this matrix for the users it
    is given, so it is also the memory of one call; a batch of B users needs ``B · n_items`` of
    it at a time. ml-20m (138,493 users × 26,744 items) needs 14.8 GB of float32; a million users
    by a million items, 4 TB. Two-stage retrieval keeps ``n_users · n`` candidates instead.

    Examples
    --------
    >>> round(full_scoring_bytes(138_493, 26_744) / 1e9, 1)
    14.8
    """
    return _check_int(n_users, "n_users", 0) * _check_int(n_items, "n_items", 0) * np.dtype(dtype).itemsize


# ---------------------------------------------------------------------- the two stages
def _kind(model) -> str:
    from .models.als import ALS
    from .models.mf import _FactorNet
    from .models.sasrec import SASRec

    if isinstance(model, (ALS, _FactorNet)):
        return "factors"
    if isinstance(model, SASRec):  # TextSASRec too: its net builds the item table from texts
        return "sasrec"
    raise ValueError(f"model={type(model).__name__}(...) has no query vector for retrieval; use ALS, BPR, FunkSVD, "
                     "SASRec or TextSASRec, or pass queries= together with an index over matching item vectors.")


def item_vectors(model) -> np.ndarray:
    """(n_items, d + 1) float32 vectors whose inner product with `query_vectors` ranks as ``model.score``.

    A factor model (ALS, BPR, FunkSVD) gives ``[y_i, b_i]``: item factors and item bias, so that
    ``[x_u, 1] · [y_i, b_i] = x_u·y_i + b_i`` (FunkSVD's global mean and user bias are the same for
    every item of a user and leave the ranking unchanged). SASRec gives ``[e_i, p_i]``: the item
    embeddings its output layer reads, and the training popularity scaled to [0, 1], which ranks
    the users with an empty history as SASRec does (by popularity).

    Examples
    --------
    >>> index = ItemIndex(item_vectors(model), kind="hnsw")       # doctest: +SKIP
    """
    kind = _kind(model)
    if kind == "factors":
        table, extra = model.item_factors_, model.item_bias_
    else:
        table = model.net_.item_table()[1: model.n_items_ + 1].detach().float().cpu().numpy()
        extra = model.popularity_ / max(float(model.popularity_.max()), 1.0)
    return np.ascontiguousarray(np.column_stack([table, extra]), dtype=np.float32)


def query_vectors(model, users, *, history: Interactions | None = None) -> np.ndarray:
    """(len(users), d + 1) float32 query vectors of ``users`` from ``history``, matching `item_vectors`.

    A factor model gives ``[x_u, 1]`` with the user factors, folded in from ``history`` as
    ``model.score`` folds them (and cached with them). SASRec gives ``[h_u, 0]`` with the final
    hidden state of the user's history (the vector its ``score`` multiplies by the item table), or
    ``[0, 1]`` for an empty history.

    Examples
    --------
    >>> ids, _ = ItemIndex(item_vectors(model)).search(query_vectors(model, [0, 1]), 100)  # doctest: +SKIP
    """
    kind = _kind(model)
    users = model._check_users(users)
    history = model._check_history(history)
    if kind == "factors":
        if hasattr(model, "net_"):  # BPR, FunkSVD: the net's user table, or its folded-in copy's
            table = model._net_for(history).user_factors.detach().float().cpu().numpy()
        else:  # ALS: the same per-history least-squares fold-in that `score` uses
            table = model.user_factors_ if history is model.train_ else model._per_history(
                history, "fold-in", model._users_from)
        return np.ascontiguousarray(np.column_stack([table[users], np.ones(len(users))]), dtype=np.float32)
    return _sasrec_queries(model, model._histories(users, history))


def _sasrec_queries(model, sequences: list[np.ndarray], batch_size: int = 256) -> np.ndarray:
    """[h_u, 0] from the net's last position, or [0, 1] for an empty sequence (see `query_vectors`)."""
    import torch

    from .models._sequence import crop

    net, d = model.net_, int(model.n_factors)
    out = np.zeros((len(sequences), d + 1), np.float32)
    was_training = net.training
    net.eval()  # no dropout: the same hidden state `score` reads
    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            x = crop(model._pad(sequences[start: start + batch_size]))
            out[start: start + len(x), :d] = net(torch.from_numpy(x).to(model.device_))[:, -1].float().cpu().numpy()
    net.train(was_training)
    empty = np.array([len(s) == 0 for s in sequences], bool)
    out[empty] = 0.0
    out[empty, d] = 1.0
    return out


def two_stage(model, index: ItemIndex, users, k: int = 10, *, n: int = 100, ranker=None,
              history: Interactions | None = None, exclude_seen: bool = True, queries: np.ndarray | None = None,
              batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` items: ``n`` candidates per user from ``index``, re-ranked by ``ranker.score``.

    Stage 1 searches ``index`` (built on ``item_vectors(model)``) with ``query_vectors(model,
    users)``; stage 2 keeps the ranker's scores of those candidates only, masks the items of
    ``history`` and returns the best ``k``. Seen items are not replaced by further candidates, so
    a user with many seen items among the ``n`` has fewer to choose from: take ``n`` well above k.
    With an exact index and ``n = n_items`` this is ``ranker.recommend`` exactly (equal scores:
    lower item first). The ranker still scores every item of a batch of ``batch_size`` users (the
    contract has no per-item score) but keeps only ``n`` of them per user.

    Parameters
    ----------
    model : the retrieval model (ALS, BPR, FunkSVD, SASRec), fitted.
    index : an `ItemIndex` over ``item_vectors(model)`` (or over vectors matching ``queries``).
    users : int or 1-D int array of user indices. k : items returned, 1 ≤ k ≤ n.
    n : candidates per user, 1 ≤ n ≤ index.n_items.
    ranker : the re-scoring recommender on the same data (default: ``model``).
    history : what each user has done (default: the ranker's training data); ``exclude_seen``
        masks its items.
    queries : (len(users), d) float32 query vectors to use instead of ``query_vectors(model, ...)``.

    Returns
    -------
    items : int64, scores : float32, of shape (k,) for one user and (len(users), k) for many,
    padded with item -1 and score -inf when fewer than k candidates remain.

    Examples
    --------
    >>> index = ItemIndex(item_vectors(als), kind="hnsw")                     # doctest: +SKIP
    >>> items, scores = two_stage(als, index, [0, 1], k=10, n=200, ranker=ease)  # doctest: +SKIP
    """
    ranker = model if ranker is None else ranker
    single = np.ndim(users) == 0
    users = ranker._check_users(users)
    history = ranker._check_history(history)
    n = _check_int(n, "n", 1, index.n_items, f" (the index holds {index.n_items} items)")
    k = _check_int(k, "k", 1, n, f" (at most the n={n} candidates re-ranked)")
    if index.n_items != ranker.n_items_:
        raise ValueError(f"index holds {index.n_items} items but the ranker scores {ranker.n_items_}; "
                         "build the index on item_vectors(model) of a model fitted on the same data.")
    if queries is None:
        queries = query_vectors(model, users, history=history)
    elif len(queries) != len(users):
        raise ValueError(f"queries has {len(queries)} rows for {len(users)} users; pass one query per user.")
    candidates = np.sort(index.search(queries, n)[0], axis=1)  # ascending ids: top_k breaks ties by lower item
    seen = history.binary() if exclude_seen else None
    items, scores = np.full((len(users), k), -1, np.int64), np.full((len(users), k), -np.inf, np.float32)
    for start in range(0, len(users), batch_size):
        rows = slice(start, start + batch_size)
        cand = candidates[rows]
        missing = cand < 0
        safe = np.where(missing, 0, cand)
        kept = np.take_along_axis(ranker.score(users[rows], history=history), safe, axis=1)  # (B, n)
        if seen is not None:
            missing |= seen[users[rows]].toarray()[np.arange(len(cand))[:, None], safe].astype(bool)
        top, scores[rows] = top_k(kept, k, exclude=missing)
        items[rows] = np.where(top >= 0, np.take_along_axis(safe, np.maximum(top, 0), axis=1), -1)
    return (items[0], scores[0]) if single else (items, scores)
