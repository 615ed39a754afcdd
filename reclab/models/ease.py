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
from .base import Real, Recommender


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
        gram = (X.T @ X).toarray().astype(np.float64)  # (n_items, n_items) co-occurrence counts
        gram[np.diag_indices_from(gram)] += self.reg
        P = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), np.eye(len(gram)))  # (XᵀX + λI)⁻¹
        B = -P / np.diag(P)[None, :]  # column j divided by P_jj
        B[np.diag_indices_from(B)] = 0.0  # the constraint: no item explains itself
        self.B_ = B.astype(np.float32)  # (n_items, n_items)

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        return history.binary()[users] @ self.B_  # (n, n_items)

    def _item_vectors(self) -> np.ndarray:
        return self.B_  # row i: how much item i contributes to every other item's score

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        return self.B_[items]  # the items whose scores a history with item i raises most
