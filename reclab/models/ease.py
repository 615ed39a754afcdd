"""EASE: an item-item linear model with a closed-form solution.

Harald Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.

EASE learns an item × item weight matrix ``B`` that rebuilds each user's row of the binary
interaction matrix ``X`` from the user's *other* items:

    minimise  ||X − X B||²_F + λ ||B||²_F   subject to   diag(B) = 0.

Without the constraint the best ``B`` would be the identity (each item predicts itself). With it,
the Lagrangian gives a closed form: with ``P = (XᵀX + λI)⁻¹``,

    B = I − P · diagMat(1 / diag(P)),   so that   B_ij = −P_ij / P_jj  (i ≠ j),  B_jj = 0.

One matrix inverse, no epochs, no learning rate, one hyper-parameter. It is an item-kNN whose
"similarities" are learned jointly by regression instead of computed pair by pair, and on
MovieLens it is one of the strongest simple baselines there is.
"""
from __future__ import annotations


import numpy as np
import scipy.linalg

from ..data import Interactions
from .base import Int, Real, Recommender


def ease_weights(gram: np.ndarray, reg: float) -> np.ndarray:
    """EASE's closed form from a Gram matrix ``XᵀX`` (n_items, n_items): ``B`` as float32.

    ``XᵀX + λI`` is inverted through its Cholesky factor when it is positive definite (always, for
    a true Gram matrix and λ > 0) and by a symmetric solve otherwise (a noisy Gram, `DPEASE`).
    """
    gram = gram + reg * np.eye(len(gram))
    try:
        P = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), np.eye(len(gram)))  # (XᵀX + λI)⁻¹
    except np.linalg.LinAlgError:
        P = scipy.linalg.solve(gram, np.eye(len(gram)), assume_a="sym")
    B = -P / np.diag(P)[None, :]  # column j divided by P_jj
    B[np.diag_indices_from(B)] = 0.0  # the constraint: no item explains itself
    return B.astype(np.float32)  # (n_items, n_items)


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder (Steck, WWW 2019).

    ``score(u, ·) = X[u] @ B`` with ``B`` the closed-form solution in the module docstring.
    ``B`` is learned from ``train``; the row ``X[u]`` it is applied to is the user's history given
    at scoring time (by default the training data; ``split.history("test")`` for the test).
    Deviations from the paper: none in the model. Only the binary matrix is used (as in the
    paper's experiments), and the Gram matrix is inverted through its Cholesky factor, since
    ``XᵀX + λI`` is symmetric positive definite for ``λ > 0``. Memory and time grow as
    ``n_items²`` and ``n_items³``: fine up to some 20,000 items, too much for a million.

    Parameters
    ----------
    reg : λ, the L2 penalty; larger values shrink ``B`` towards 0. The default scored best on the
        validation part of ml-100k, leave-last-out (``benchmarks/classic_knn.py --tune``). λ is
        weighed against the co-occurrence counts in ``XᵀX``, so larger data sets want larger λ.
    """

    _state = ("B_",)
    _shapes = {"B_": ("I", "I")}

    _params = {"reg": Real(0, low_open=True)}  # > 0 also keeps XᵀX + λI invertible

    def __init__(self, *, reg: float = 100.0):
        self.reg = reg

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        X = self.seen_  # (n_users, n_items) binary
        self.B_ = ease_weights((X.T @ X).toarray().astype(np.float64), self.reg)  # from co-occurrence counts

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        return history.binary()[users] @ self.B_  # (n, n_items)

    def _item_vectors(self) -> np.ndarray:
        return self.B_  # row i: how much item i contributes to every other item's score

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        return self.B_[items]  # the items whose scores a history with item i raises most


class DPEASE(EASE):
    """EASE learned from a differentially private Gram matrix (after McSherry & Mironov, KDD 2009).

    Frank McSherry and Ilya Mironov ("Differentially Private Recommender Systems: Building Privacy
    into the Netflix Prize Contenders", KDD 2009) add calibrated noise to the item-item statistics
    that a recommender learns from, so that what is learned reveals little about any one user.
    Here, EASE's only statistic is the Gram matrix ``XᵀX``. Each user's history is cut to their
    ``max_items`` latest items, so that adding or removing one user changes at most
    ``m(m + 1)/2`` entries of its upper triangle (diagonal included) by 1: that is the L1
    sensitivity, and Laplace noise of scale ``m(m + 1) / (2ε)`` on every entry of the upper
    triangle (mirrored below) makes the released matrix, and so ``B``, ε-differentially private
    with respect to users. Deviations: none from the Laplace mechanism; McSherry and Mironov
    add further steps (per-user weights, a cleaned covariance) that are left out.

    Scoring reads the user's own, full history (``score(users, history=...)``) as EASE does: the
    guarantee covers the learned weights, not what a user shows about themselves at scoring time.
    ``epsilon=None`` adds no noise; with ``max_items=None`` too, it is EASE exactly.

    Parameters
    ----------
    epsilon : the privacy budget ε > 0 (smaller is more private and noisier), or None for no noise.
    reg : λ, as in EASE; a noisy Gram usually wants a larger one.
    max_items : the latest items kept per user (bounds the sensitivity); None keeps all (needs
        ``epsilon=None``: without a bound the noise cannot be calibrated).
    seed : seeds the noise.
    """

    _params = {"reg": Real(0, low_open=True), "epsilon": Real(0, low_open=True, none=True),
               "max_items": Int(1, none=True), "seed": Int(0)}

    def __init__(self, *, epsilon: float | None = 1.0, reg: float = 100.0, max_items: int | None = 50, seed: int = 0):
        self.epsilon, self.reg, self.max_items, self.seed = epsilon, reg, max_items, seed

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        if self.epsilon is not None and self.max_items is None:
            raise ValueError("DPEASE(epsilon=...) needs max_items: without a cap on each user's items the noise "
                             "cannot be calibrated; set max_items (e.g. 50) or epsilon=None.")
        X = self.seen_ if self.max_items is None else _latest(train, int(self.max_items))
        gram = (X.T @ X).toarray().astype(np.float64)
        self.noise_scale_ = 0.0
        if self.epsilon is not None:
            m = int(self.max_items)
            self.noise_scale_ = m * (m + 1) / 2 / float(self.epsilon)
            noise = np.random.default_rng(int(self.seed)).laplace(0.0, self.noise_scale_, gram.shape)
            upper = np.triu(noise)
            gram += upper + np.triu(upper, 1).T  # the same noise above and below the diagonal
        self.B_ = ease_weights(gram, self.reg)


def _latest(train: Interactions, m: int):
    """The binary user x item matrix of each user's ``m`` latest distinct items."""
    import scipy.sparse as sp

    r = train.ratings.iloc[train.time_order()].drop_duplicates(["user", "item"], keep="last")
    r = r[r.groupby("user").cumcount(ascending=False) < m]
    return sp.csr_matrix((np.ones(len(r)), (r["user"].to_numpy(), r["item"].to_numpy())),
                         shape=(train.n_users, train.n_items))
