"""Neighbourhood collaborative filtering: user-kNN and item-kNN on sparse matrices.

Two people who liked the same movies in the past will probably like the same movies in future
(user-based: Herlocker, Konstan, Borchers & Riedl, "An Algorithmic Framework for Performing
Collaborative Filtering", SIGIR 1999), and two movies liked by the same people are probably alike
(item-based: Sarwar, Karypis, Konstan & Riedl, "Item-Based Collaborative Filtering Recommendation
Algorithms", WWW 2001). Both compare columns of the user × item matrix: items for item-kNN, users
for user-kNN (the columns of the transpose). Similarities between vectors that share only a few
ratings are noisy, so they are shrunk towards zero, ``sim · n / (n + shrink)`` where ``n`` counts
the co-rated entries (Koren, "Factorization Meets the Neighborhood", KDD 2008; Herlocker et al.'s
significance weighting serves the same purpose).

Everything is a sparse matrix product, computed a block of rows at a time and pruned to the
``k_neighbours`` largest entries per row, so memory stays ``O(n · k_neighbours)`` plus one dense
block of at most ``_BLOCK_CELLS`` cells, and the code scales past MovieLens.
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ..data import Interactions
from ..metrics import top_k
from .base import Recommender

SIMILARITIES = ("cosine", "jaccard", "pearson")
FEEDBACK = ("binary", "rating")
_BLOCK_CELLS = 2**23  # dense cells per block of similarity rows (64 MB in float64)


def column_similarity(
    X: sp.spmatrix,
    similarity: str = "cosine",
    *,
    shrink: float = 0.0,
    k_neighbours: int | None = None,
) -> sp.csr_matrix:
    """Similarity between the columns of a sparse matrix, pruned to each column's nearest neighbours.

    Parameters
    ----------
    X : sparse (n_rows, n_cols); a stored entry is an observation (an explicit 0 still counts).
    similarity : "cosine" of the column vectors; "jaccard" of the sets of rows with an entry
        (|a ∩ b| / |a ∪ b|, values ignored); "pearson": each column is centred on the mean of its
        own entries, then correlated over the rows the two columns share.
    shrink : multiply each similarity by ``n / (n + shrink)``, n = number of shared rows.
    k_neighbours : keep the k largest similarities per row (ties: lower column first); None keeps all.

    Returns
    -------
    S : CSR (n_cols, n_cols) float32; ``S[a, b]`` = sim(a, b) if b is among a's neighbours, else 0.
        The diagonal is 0 (a column is not its own neighbour) and so are pairs with nothing shared.

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1.0, 1, 0], [1, 0, 1]]))
    >>> column_similarity(X, "jaccard").toarray().round(2)
    array([[0. , 0.5, 0.5],
           [0.5, 0. , 0. ],
           [0.5, 0. , 0. ]], dtype=float32)
    """
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity={similarity!r} is not supported; use one of {SIMILARITIES}.")
    if isinstance(shrink, bool) or not isinstance(shrink, numbers.Real) or not shrink >= 0:
        raise ValueError(f"shrink={shrink!r} must be a number >= 0 (0 turns shrinkage off).")
    if k_neighbours is not None and (
        isinstance(k_neighbours, bool) or not isinstance(k_neighbours, (int, np.integer)) or k_neighbours <= 0
    ):
        raise ValueError(f"k_neighbours={k_neighbours!r} must be a positive int (or None to keep every neighbour).")
    X = sp.csc_matrix(X, dtype=np.float64, copy=True)  # copied: sum_duplicates works in place
    X.sum_duplicates()
    n_cols = X.shape[1]
    counts = np.diff(X.indptr)  # entries per column
    B = X.copy()
    B.data[:] = 1.0  # (n_rows, n_cols) who-has-what
    BT = B.T.tocsr()

    if similarity == "pearson":
        means = np.asarray(X.sum(axis=0)).ravel() / np.maximum(counts, 1)
        V = X.copy()
        V.data -= np.repeat(means, counts)  # centred; a rating equal to the mean stays stored
        V2 = V.multiply(V).tocsc()
        V2T = V2.T.tocsr()
    else:
        V = X
        norms = np.sqrt(np.asarray(V.multiply(V).sum(axis=0)).ravel())  # (n_cols,)
    VT = V.T.tocsr()
    need_common = similarity == "jaccard" or shrink > 0

    rows, cols, vals = [], [], []
    step = max(1, _BLOCK_CELLS // max(n_cols, 1))
    for start in range(0, n_cols, step):
        block = np.arange(start, min(start + step, n_cols))
        common = (BT[block] @ B).toarray() if need_common else None  # (b, n_cols) shared rows
        if similarity == "cosine":
            num = (VT[block] @ V).toarray()
            den = norms[block, None] * norms[None, :]
        elif similarity == "jaccard":
            num = common
            den = counts[block, None] + counts[None, :] - common
        else:  # Pearson: sums run over shared rows only, the norms included
            num = (VT[block] @ V).toarray()
            den = np.sqrt((V2T[block] @ B).toarray() * (BT[block] @ V2).toarray())
        sim = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        if shrink > 0:
            sim *= common / (common + shrink)
        diagonal = np.zeros(sim.shape, bool)
        diagonal[np.arange(len(block)), block] = True
        if k_neighbours is None or k_neighbours >= n_cols - 1:
            keep = ~diagonal
        else:
            best, _ = top_k(sim, int(k_neighbours), exclude=diagonal)  # (b, k)
            keep = np.zeros(sim.shape, bool)
            np.put_along_axis(keep, best, True, axis=1)
        keep &= sim != 0
        r, c = np.nonzero(keep)
        rows.append(block[r])
        cols.append(c)
        vals.append(sim[r, c])
    S = sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_cols, n_cols),
    )
    S.sort_indices()
    return S


def _check_options(model: "UserKNN | ItemKNN") -> None:
    if model.feedback not in FEEDBACK:
        raise ValueError(f"feedback={model.feedback!r} is not supported; use one of {FEEDBACK}.")
    if model.similarity == "pearson" and model.feedback == "binary":
        raise ValueError(
            "similarity='pearson' needs feedback='rating': centred binary data is all zeros; "
            "pass feedback='rating' or choose similarity='cosine' or 'jaccard'."
        )


def _normalise(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted average instead of weighted sum; items no neighbour touches keep score 0."""
    return np.divide(scores, weights, out=np.zeros_like(scores), where=weights > 0)


class ItemKNN(Recommender):
    """Item-based k-nearest-neighbours (Sarwar et al., WWW 2001).

    ``score(u, i) = Σ_{j ∈ items of u} sim(i, j) · x_uj``, summed over the ``k_neighbours`` items
    most similar to ``i`` (``x`` is 1 with ``feedback="binary"``, the rating with "rating").
    Deviations from the paper:

    - ranking, not rating prediction: the weighted *sum* is the default, because dividing by
      ``Σ |sim|`` (Sarwar's weighted average, ``normalize=True``) lets an item with one weak
      neighbour score as high as one with many strong ones;
    - Pearson correlates over the co-rated users with each item centred on the mean of *all* its
      ratings; the paper's "adjusted cosine" (centred on each user's mean) is not implemented, and
      shrinkage (Koren 2008) is added;
    - neighbours are pruned per target item and stored sparse (the paper keeps a full model).

    Parameters
    ----------
    k_neighbours : neighbours kept per item; None keeps all. Set a number for a large catalogue:
        memory is then ``n_items · k_neighbours`` instead of up to ``n_items²``.
    similarity : "cosine", "jaccard" or "pearson" (see `column_similarity`).
    shrink : shrinkage of similarities built on few shared users (0: none).
    feedback : "binary" (who interacted) or "rating" (weight by the star rating).
    normalize : divide each score by the sum of |sim| of the user's items among the neighbours.
        Meant for ``feedback="rating"``: with binary feedback every score becomes 0 or 1.

    The defaults (Jaccard, every neighbour, no shrinkage) scored best on the validation part of
    ml-100k, leave-last-out, in the grid of ``benchmarks/classic_knn.py --tune``.
    """

    _state = ("X_", "sim_")
    _shapes = {"X_": ("U", "I"), "sim_": ("I", "I")}

    def __init__(
        self,
        *,
        k_neighbours: int | None = None,
        similarity: str = "jaccard",
        shrink: float = 0.0,
        feedback: str = "binary",
        normalize: bool = False,
    ):
        self.k_neighbours = k_neighbours
        self.similarity = similarity
        self.shrink = shrink
        self.feedback = feedback
        self.normalize = normalize

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        _check_options(self)
        self.X_ = train.to_csr(self.feedback)  # (n_users, n_items)
        self.sim_ = column_similarity(
            self.X_, self.similarity, shrink=self.shrink, k_neighbours=self.k_neighbours
        )  # (n_items, n_items), row i = neighbours of item i
        _score_from_known(self, train, valid)

    def _score(self, users: np.ndarray) -> np.ndarray:
        scores = (self.X_[users] @ self.sim_.T).toarray()  # (n, n_items)
        if self.normalize:
            weights = (self.seen_[users] @ abs(self.sim_).T).toarray()
            scores = _normalise(scores, weights)
        return scores

    def _item_vectors(self) -> sp.csr_matrix:
        return self.sim_  # an item is described by its neighbours


def _score_from_known(model: Recommender, train: Interactions, valid: Interactions | None) -> None:
    """Similarities come from train; after ``fit(train, valid)`` scores read train + valid (see `reclab.models.base`)."""
    if valid is not None:
        model.X_ = model._history_with(train, valid).to_csr(model.feedback)


class UserKNN(Recommender):
    """User-based k-nearest-neighbours (Herlocker et al., SIGIR 1999).

    ``score(u, i) = Σ_{v ∈ neighbours of u} sim(u, v) · x_vi`` over the ``k_neighbours`` users
    most similar to ``u``. Deviations from the paper:

    - ranking, not rating prediction: a weighted sum of the neighbours' feedback, not the
      mean-offset average ``r̄_u + Σ sim (r_vi − r̄_v) / Σ |sim|`` (``normalize=True`` gives the
      plain weighted average);
    - shrinkage ``n / (n + shrink)`` (Koren 2008) replaces the paper's step-wise significance
      weighting ``min(n, 50) / 50``; both damp similarities built on few co-rated items;
    - neighbours are the k most similar users overall, not among those who rated the item.

    Parameters are those of `ItemKNN`, with users in place of items. The defaults (cosine,
    15 neighbours, shrink 5) scored best on the validation part of ml-100k, leave-last-out, in the
    grid of ``benchmarks/classic_knn.py --tune``: a few close neighbours beat many loose ones.
    """

    _state = ("X_", "sim_")
    _shapes = {"X_": ("U", "I"), "sim_": ("U", "U")}

    def __init__(
        self,
        *,
        k_neighbours: int | None = 15,
        similarity: str = "cosine",
        shrink: float = 5.0,
        feedback: str = "binary",
        normalize: bool = False,
    ):
        self.k_neighbours = k_neighbours
        self.similarity = similarity
        self.shrink = shrink
        self.feedback = feedback
        self.normalize = normalize

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        _check_options(self)
        self.X_ = train.to_csr(self.feedback)  # (n_users, n_items)
        self.sim_ = column_similarity(
            self.X_.T, self.similarity, shrink=self.shrink, k_neighbours=self.k_neighbours
        )  # (n_users, n_users), row u = neighbours of user u
        _score_from_known(self, train, valid)

    def _score(self, users: np.ndarray) -> np.ndarray:
        neighbours = self.sim_[users]  # (n, n_users)
        scores = (neighbours @ self.X_).toarray()  # (n, n_items)
        if self.normalize:
            scores = _normalise(scores, (abs(neighbours) @ self.seen_).toarray())
        return scores

    def _item_vectors(self) -> sp.csr_matrix:
        return self.X_.T.tocsr()  # (n_items, n_users): an item is described by who liked it
