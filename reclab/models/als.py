"""Alternating least squares for implicit feedback (Hu, Koren & Volinsky, ICDM 2008).

`ALS` fits every cell of the user × item matrix, 1 where there was an interaction and 0 elsewhere,
trusting the 1s more (confidence 1 + alpha·r), by alternating least-squares solves (`als_solve`):
exact, or a few conjugate-gradient steps warm-started from the previous factors (Takács, Pilászy
& Tikk, "Applications of the Conjugate Gradient Method for Implicit Feedback Collaborative
Filtering", RecSys 2011), as the `implicit` library does. Scored from another history, the users
whose history changed get their vector folded in by the exact least-squares solve for that row
with the item factors fixed (implicit's ``recalculate_user``). `reclab.models.mf` re-exports it.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from ..data import Interactions
from .base import Choice, Int, Real, Recommender, changed_users

__all__ = ["ALS", "als_objective", "als_solve"]


def _torch_csr(matrix: sp.csr_matrix, values: np.ndarray | torch.Tensor | None = None, dtype=None) -> torch.Tensor:
    """``matrix`` (or its pattern with ``values``) as a torch CSR tensor, without torch's beta warning."""
    values = torch.as_tensor(matrix.data if values is None else values, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta": we use two stable ops
        return torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr.astype(np.int64)),
                                       torch.from_numpy(matrix.indices.astype(np.int64)), values,
                                       size=matrix.shape, check_invariants=False)


def _dots_at(pattern: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """(A @ Bᵀ) at the nonzeros of the CSR ``pattern``, in its order: (nnz,). Never forms A @ Bᵀ."""
    return torch.sparse.sampled_addmm(pattern, A, B.T, beta=0.0).values()


def _prepare(matrix: sp.csr_matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    matrix.eliminate_zeros()  # a stored 0 is no interaction: p_ui = 0
    matrix.sort_indices()
    return matrix


def als_solve(fixed: np.ndarray, matrix: sp.csr_matrix, alpha: float, reg: float,
              block: int = 1 << 12, *, cg_steps: int | None = None, x0: np.ndarray | None = None) -> np.ndarray:
    """One ALS half-step: the factors of every row of ``matrix`` given the other side's ``fixed``.

    For row u with confidences c_ui = 1 + alpha·r_ui and preferences p_ui = [r_ui > 0], solves
    (YᵀY + Yᵀ(C_u − I)Y + reg·I) x_u = Yᵀ C_u p_u, where Y = ``fixed``. YᵀY is shared by all rows;
    the correction Yᵀ(C_u − I)Y only involves the row's own nonzeros.

    - ``cg_steps=None`` (exact): rows are sorted by length, gathered into padded blocks of about
      ``block`` entries and solved together with a batched Cholesky factorisation.
    - ``cg_steps=n``: n steps of the conjugate gradient method for every row at once, started from
      ``x0`` (the previous factors; zeros when None), as in Takács et al. (2011) and implicit. A
      step never forms a row's matrix: it needs Y·p_u only at the row's nonzeros (one sampled
      matrix product) and one sparse × dense product, so its cost is O(nnz·F + n_rows·F²).

    Parameters
    ----------
    fixed : (n_cols, F) factors of the other side; float32 or float64, the dtype computed in.
    matrix : (n_rows, n_cols) sparse, nonnegative values r_ui.
    block : entries per padded block of the exact solve.
    cg_steps, x0 : see above; x0 has shape (n_rows, F).

    Returns
    -------
    (n_rows, F) array of the dtype of ``fixed``; a row without nonzeros gets zeros (its exact value).

    Examples
    --------
    >>> X = als_solve(Y, R, alpha=5.0, reg=10.0)                          # doctest: +SKIP
    >>> X = als_solve(Y, R, alpha=5.0, reg=10.0, cg_steps=3, x0=X)        # doctest: +SKIP
    >>> Y = als_solve(X, R.T.tocsr(), alpha=5.0, reg=10.0)                 # doctest: +SKIP
    """
    Y = torch.as_tensor(np.asarray(fixed))  # (C, F)
    if Y.dtype not in (torch.float32, torch.float64):
        Y = Y.double()
    matrix = _prepare(matrix)
    if matrix.shape[1] != Y.shape[0]:
        raise ValueError(f"matrix has {matrix.shape[1]} columns but fixed has {Y.shape[0]} rows; they must match.")
    gram = Y.T @ Y + reg * torch.eye(Y.shape[1], dtype=Y.dtype)  # (F, F)
    if cg_steps is None:
        return _exact(Y, gram, matrix, alpha, block).numpy()
    shape = (matrix.shape[0], Y.shape[1])
    x = torch.zeros(shape, dtype=Y.dtype) if x0 is None else torch.tensor(np.asarray(x0), dtype=Y.dtype)
    if x.shape != shape:
        raise ValueError(f"x0 has shape {tuple(x.shape)}; it must be (n_rows, F) = {shape}: the previous factors.")
    return _conjugate_gradient(Y, gram, matrix, alpha, x, int(cg_steps)).numpy()


def _exact(Y: torch.Tensor, gram: torch.Tensor, matrix: sp.csr_matrix, alpha: float, block: int) -> torch.Tensor:
    f = Y.shape[1]
    lengths = np.diff(matrix.indptr)
    order = np.argsort(lengths, kind="stable")  # short rows first, so a block pads little
    sorted_lengths = lengths[order]
    out = torch.zeros(matrix.shape[0], f, dtype=Y.dtype)
    start = int(np.searchsorted(sorted_lengths, 1))  # rows with no nonzeros keep x_u = 0
    while start < len(order):
        # the longest block from `start` whose padded size (rows × longest row) fits in `block`
        padded = np.arange(1, len(order) - start + 1) * sorted_lengths[start:]
        stop = start + max(1, int(np.searchsorted(padded, block, "right")))
        rows = order[start:stop]
        offsets = np.arange(sorted_lengths[stop - 1])
        mask = offsets[None, :] < lengths[rows, None]  # (B, L)
        pointer = np.where(mask, matrix.indptr[rows, None] + offsets[None, :], 0)
        gathered = Y[torch.as_tensor(np.where(mask, matrix.indices[pointer], 0))]  # (B, L, F)
        extra = torch.as_tensor(np.where(mask, alpha * matrix.data[pointer], 0.0), dtype=Y.dtype)  # c − 1, 0 on padding
        weight = (1 + extra) * torch.as_tensor(mask, dtype=Y.dtype)  # c·p, 0 on padding
        A = gram + (gathered * extra.unsqueeze(-1)).transpose(1, 2) @ gathered  # (B, F, F)
        b = (gathered * weight.unsqueeze(-1)).sum(1)  # (B, F) = Yᵀ C_u p_u
        out[torch.as_tensor(rows)] = torch.cholesky_solve(b.unsqueeze(-1), torch.linalg.cholesky(A)).squeeze(-1)
        start = stop
    return out


def _conjugate_gradient(Y: torch.Tensor, gram: torch.Tensor, matrix: sp.csr_matrix, alpha: float,
                        x: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` CG iterations on every row's normal equations at once, from ``x`` (modified in place)."""
    if matrix.nnz == 0:
        return torch.zeros_like(x)
    extra = torch.as_tensor(alpha * matrix.data, dtype=Y.dtype)  # c − 1 at the nonzeros
    pattern = _torch_csr(matrix, dtype=Y.dtype)
    b = _torch_csr(matrix, 1 + extra) @ Y  # (n, F) = Yᵀ C_u p_u

    def times_A(p: torch.Tensor) -> torch.Tensor:  # A_u p_u for every row: (n, F)
        return p @ gram + _torch_csr(matrix, _dots_at(pattern, p, Y) * extra) @ Y

    r = b - times_A(x)
    p = r.clone()
    rs = (r * r).sum(1)  # (n,)
    tiny = torch.finfo(Y.dtype).tiny
    for _ in range(steps):
        Ap = times_A(p)
        pAp = (p * Ap).sum(1)
        step = torch.where(pAp > 0, rs / pAp.clamp_min(tiny), 0.0).unsqueeze(1)  # a converged row stays put
        x += step * p
        r -= step * Ap
        rs_new = (r * r).sum(1)
        p = r + torch.where(rs > 0, rs_new / rs.clamp_min(tiny), 0.0).unsqueeze(1) * p
        rs = rs_new
    x[torch.from_numpy(np.diff(matrix.indptr) == 0)] = 0.0  # the exact solution of an empty row
    return x


class ALS(Recommender):
    """Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008).

    Minimises Σ_ui c_ui (p_ui − x_u·y_i)² + reg (Σ‖x_u‖² + Σ‖y_i‖²) over all user × item cells, with
    p_ui = 1 for a training interaction and 0 otherwise, c_ui = 1 + alpha·r_ui, and r_ui = 1
    (``values="binary"``) or the star rating (``values="rating"``).

    Deviations from the paper: r_ui is the binary indicator or the rating rather than a watch
    time; the log-scaled confidence variant is left out; factors start from N(0, init_std²) noise
    (users from zeros); each half-step is by default ``cg_steps`` conjugate-gradient steps from the
    previous factors (Takács et al. 2011, implicit's default) instead of the exact solve
    (``cg_steps=None``). Scored from a history other than ``train``, each user whose row differs
    gets the exact least-squares x_u for that row with the item factors fixed (implicit's
    ``recalculate_user``), once per history.

    Parameters
    ----------
    n_factors, n_epochs, reg, alpha, values, init_std, seed : as above; an epoch is one user and
        one item half-step.
    cg_steps : conjugate-gradient steps per half-step, or None for the exact Cholesky solve.

    Attributes
    ----------
    loss_ : the objective after each epoch.
    user_factors_, item_factors_ : X (n_users, F) and Y (n_items, F), float32.
    """

    _state = ("user_factors_", "item_factors_", "item_bias_")
    _shapes = {"user_factors_": ("U", "F"), "item_factors_": ("I", "F"), "item_bias_": ("I",)}
    _params = {"n_factors": Int(1), "n_epochs": Int(1), "reg": Real(0), "alpha": Real(0),
               "values": Choice("binary", "rating"), "init_std": Real(0), "cg_steps": Int(1, none=True),
               "seed": Int()}

    def __init__(self, *, n_factors: int = 128, n_epochs: int = 15, reg: float = 20.0, alpha: float = 5.0,
                 values: str = "binary", init_std: float = 0.01, cg_steps: int | None = 3, seed: int = 0):
        self.n_factors, self.n_epochs, self.reg, self.alpha = n_factors, n_epochs, reg, alpha
        self.values, self.init_std, self.cg_steps, self.seed = values, init_std, cg_steps, seed

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        R = train.to_csr(self.values)  # (U, I); a repeated pair keeps its latest rating
        Rt = R.T.tocsr()
        generator = torch.Generator().manual_seed(int(self.seed))
        Y = (torch.randn(self.n_items_, int(self.n_factors), generator=generator) * self.init_std).numpy()  # float32
        X = np.zeros((self.n_users_, int(self.n_factors)), np.float32)
        steps = None if self.cg_steps is None else int(self.cg_steps)
        alpha, reg = float(self.alpha), float(self.reg)
        self.loss_ = []
        for _ in range(int(self.n_epochs)):
            X = als_solve(Y, R, alpha, reg, cg_steps=steps, x0=X)
            Y = als_solve(X, Rt, alpha, reg, cg_steps=steps, x0=Y)
            self.loss_.append(als_objective(X, Y, R, alpha, reg))
        self.user_factors_, self.item_factors_ = X, Y
        self.item_bias_ = np.zeros(self.n_items_, np.float32)  # no bias in ALS; kept for the shared layout

    def _users_from(self, history: Interactions) -> np.ndarray:
        """X with the rows of the users whose history differs from train solved anew against it."""
        users = changed_users(self.train_, history)
        X = self.user_factors_
        if len(users):
            X = X.copy()
            rows = history.to_csr(self.values)[users]
            X[users] = als_solve(self.item_factors_.astype(np.float64), rows, float(self.alpha), float(self.reg))
        return X

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        X = self.user_factors_ if history is self.train_ else self._per_history(history, "fold-in", self._users_from)
        return X[users] @ self.item_factors_.T + self.item_bias_  # (n, I)

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_


def als_objective(X: np.ndarray, Y: np.ndarray, R: sp.csr_matrix, alpha: float, reg: float) -> float:
    """Σ_ui c_ui (p_ui − x_u·y_i)² + reg(‖X‖² + ‖Y‖²), without forming the dense matrix.

    Over all cells, Σ (p − s)² = Σ s² − 2 Σ_{p=1} s + nnz, with Σ s² = trace((XᵀX)(YᵀY)); the extra
    confidence alpha·r only touches the nonzeros.
    """
    R = _prepare(R)
    X64, Y64 = torch.as_tensor(np.asarray(X, np.float64)), torch.as_tensor(np.asarray(Y, np.float64))
    s = _dots_at(_torch_csr(R), X64, Y64).numpy() if R.nnz else np.zeros(0)  # (nnz,) x_u·y_i
    everywhere = float(((X64.T @ X64) * (Y64.T @ Y64)).sum()) - 2 * s.sum() + len(s)
    extra = np.sum(alpha * R.data * (1 - s) ** 2)
    return float(everywhere + extra + reg * (float((X64 ** 2).sum()) + float((Y64 ** 2).sum())))
