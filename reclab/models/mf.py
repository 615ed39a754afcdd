"""Matrix factorisation: explicit ratings (`FunkSVD`) and implicit feedback (`BPR`, `ALS`).

Every user u and item i get a vector of ``n_factors`` numbers, p_u and q_i, and their dot product
says how well they match. The three models learn those vectors from different signals:

- `FunkSVD` fits the observed star ratings, r_ui ≈ μ + b_u + b_i + p_u·q_i, by stochastic gradient
  descent on the squared error (S. Funk, "Netflix Update: Try This at Home", blog post, 2006;
  Koren, Bell & Volinsky, "Matrix Factorization Techniques for Recommender Systems", IEEE Computer
  42(8), 2009). It predicts ratings; it was never trained to rank.
- `BPR` learns to rank: a user's item should score above an item they never touched (Rendle,
  Freudenthaler, Gantner & Schmidt-Thieme, "BPR: Bayesian Personalized Ranking from Implicit
  Feedback", UAI 2009).
- `ALS` fits every cell of the user × item matrix, 1 where there was an interaction and 0 elsewhere,
  trusting the 1s more (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback
  Datasets", ICDM 2008), by alternating exact least-squares solves (`als_solve`).
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..data import Interactions
from ..train import fit_net, validation_ndcg
from ._sampling import sample_negatives
from .base import Recommender


def _check(name: str, value, low: float, strict: bool, integer: bool = False) -> None:
    """ValueError naming the argument and value when ``value`` is not a number above ``low``."""
    kind = numbers.Integral if integer else numbers.Real
    bad = not isinstance(value, kind) or isinstance(value, bool) or (value <= low if strict else value < low)
    if bad:
        rule = f"{'>' if strict else '>='} {low}"
        raise ValueError(f"{name}={value!r} is not valid; it must be {'an int' if integer else 'a number'} {rule}.")


def _check_training(model) -> None:
    _check("n_factors", model.n_factors, 0, True, integer=True)
    _check("n_epochs", model.n_epochs, 0, True, integer=True)
    _check("reg", model.reg, 0, False)
    for name in ("lr", "batch_size"):
        if hasattr(model, name):
            _check(name, getattr(model, name), 0, True, integer=name == "batch_size")
    patience = getattr(model, "patience", None)
    if patience is not None:
        _check("patience", patience, 0, True, integer=True)


def _rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` along the first axis, by ``index_select``.

    Why not ``table[index]``: the backward of advanced indexing adds the gradients of repeated
    indices in an order that depends on the CPU threads (with 2 threads BPR's weights drift by
    ~1e-4 in a few epochs), while ``index_select``'s backward adds them in index order — the same
    sums as one thread, on any number of threads.
    """
    return table.index_select(0, index)


def _normal(shape: tuple[int, ...], std: float, generator: torch.Generator) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape, generator=generator) * std)


class FunkSVDNet(nn.Module):
    """r̂_ui = μ + b_u + b_i + p_u·q_i, with μ fixed to the training mean."""

    def __init__(self, n_users: int, n_items: int, n_factors: int, global_mean: float = 0.0,
                 init_std: float = 0.1, generator: torch.Generator | None = None, reg: float = 0.0):
        super().__init__()
        self.reg = reg
        self.register_buffer("global_mean", torch.tensor(float(global_mean)))
        self.user_factors = _normal((n_users, n_factors), init_std, generator)  # (U, F)
        self.item_factors = _normal((n_items, n_factors), init_std, generator)  # (I, F)
        self.user_bias = nn.Parameter(torch.zeros(n_users))
        self.item_bias = nn.Parameter(torch.zeros(n_items))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (_rows(self.user_factors, users) * _rows(self.item_factors, items)).sum(-1)  # (B,)
        return self.global_mean + _rows(self.user_bias, users) + _rows(self.item_bias, items) + dot

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ_batch ½(r − r̂)² + ½·reg·(‖p_u‖² + ‖q_i‖² + b_u² + b_i²), batch keys user, item, rating.

        Summed, not averaged, and halved, so that one SGD step on a single rating is exactly
        Funk's update p_u ← p_u + lr·(e·q_i − reg·p_u).
        """
        users, items = batch["user"], batch["item"]
        error = batch["rating"] - self(users, items)  # (B,)
        norms = (_rows(self.user_factors, users).square().sum(-1) + _rows(self.item_factors, items).square().sum(-1)
                 + _rows(self.user_bias, users).square() + _rows(self.item_bias, items).square())  # (B,)
        return 0.5 * (error.square() + self.reg * norms).sum()


class BPRNet(nn.Module):
    """x̂_ui = p_u·q_i (+ b_i): a score whose only job is to order items for a user."""

    def __init__(self, n_users: int, n_items: int, n_factors: int, item_bias: bool = True,
                 init_std: float = 0.1, generator: torch.Generator | None = None, reg: float = 0.0):
        super().__init__()
        self.reg = reg
        self.user_factors = _normal((n_users, n_factors), init_std, generator)  # (U, F)
        self.item_factors = _normal((n_items, n_factors), init_std, generator)  # (I, F)
        self.item_bias = nn.Parameter(torch.zeros(n_items), requires_grad=item_bias)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (_rows(self.user_factors, users) * _rows(self.item_factors, items)).sum(-1)  # (B,)
        return dot + _rows(self.item_bias, items)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ_batch −ln σ(x̂_ui − x̂_uj) + ½·reg·(‖p_u‖² + ‖q_i‖² + ‖q_j‖² + b_i² + b_j²).

        Batch keys: user, pos (the item i they interacted with), neg (an item j they did not).
        """
        users, pos, neg = batch["user"], batch["pos"], batch["neg"]
        margin = self(users, pos) - self(users, neg)  # (B,)
        norms = (_rows(self.user_factors, users).square().sum(-1) + _rows(self.item_factors, pos).square().sum(-1)
                 + _rows(self.item_factors, neg).square().sum(-1) + _rows(self.item_bias, pos).square()
                 + _rows(self.item_bias, neg).square())
        return (-nn.functional.logsigmoid(margin) + 0.5 * self.reg * norms).sum()


class _Factors(Recommender):
    """Shared by the three models: scores and item vectors from learned factor arrays."""

    _state = ("user_factors_", "item_factors_", "item_bias_")
    _shapes = {"user_factors_": ("U", "F"), "item_factors_": ("I", "F"), "item_bias_": ("I",)}

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T + self.item_bias_  # (n, I)

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_

    def _keep(self, net: nn.Module) -> None:
        self.user_factors_ = net.user_factors.detach().cpu().numpy().copy()
        self.item_factors_ = net.item_factors.detach().cpu().numpy().copy()
        self.item_bias_ = net.item_bias.detach().cpu().numpy().copy()


class FunkSVD(_Factors):
    """Biased matrix factorisation of explicit ratings, trained by minibatch SGD or Adam.

    Deviations from Funk (2006) and Koren et al. (2009): ratings are visited in shuffled minibatches
    of ``batch_size`` whose gradients are summed (``batch_size=1`` with ``optimizer="sgd"`` is the
    original per-rating update); Adam is offered as an alternative; predictions are not clipped to
    the rating scale. The ranking score of an item is its predicted rating. Training runs in
    `reclab.train.fit_net` with clipping off; the epoch kept at the end is the one with the lowest
    RMSE on ``valid`` (on train without ``valid``), and ``patience`` stops early on it.

    Parameters
    ----------
    n_factors, n_epochs, lr, reg : factors per user and item, epochs, step size, L2 weight.
    batch_size : ratings per step.
    optimizer : "sgd" (Funk's update), "adam" or "adamw" (see `reclab.train.fit_net`).
    init_std : standard deviation of the random initial factors (biases start at 0).
    patience : stop after this many epochs without a lower RMSE; None trains all ``n_epochs``.
    device, seed, progress : as in `reclab.train.fit_net`.

    Attributes
    ----------
    rmse_ : {"train": [...], "valid": [...]}, the RMSE after each epoch ("valid" only when given).
    history_ : the `reclab.train.History` of the fit (valid = −RMSE, higher is better); not saved.
    """

    _state = _Factors._state + ("global_mean_", "user_bias_", "rmse_")
    _shapes = _Factors._shapes | {"user_bias_": ("U",)}

    def __init__(self, *, n_factors: int = 32, n_epochs: int = 20, lr: float = 0.01, reg: float = 0.05,
                 batch_size: int = 1024, optimizer: str = "sgd", init_std: float = 0.1,
                 patience: int | None = None, device: str = "auto", seed: int = 0, progress: bool = False):
        self.n_factors, self.n_epochs, self.lr, self.reg = n_factors, n_epochs, lr, reg
        self.batch_size, self.optimizer, self.init_std, self.patience = batch_size, optimizer, init_std, patience
        self.device, self.seed, self.progress = device, seed, progress

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        _check_training(self)
        users, items, ratings = _triples(train)
        generator = torch.Generator().manual_seed(int(self.seed))
        net = FunkSVDNet(self.n_users_, self.n_items_, self.n_factors, ratings.mean().item(), self.init_std,
                         generator, self.reg)
        parts = {"train": (users, items, ratings)} | ({"valid": _triples(valid)} if valid is not None else {})
        self.rmse_ = {name: [] for name in parts}

        def batches(rng: np.random.Generator):
            order = torch.from_numpy(rng.permutation(len(ratings)))
            for batch in order.split(int(self.batch_size)):
                yield {"user": users[batch], "item": items[batch], "rating": ratings[batch]}

        def record_rmse(net: FunkSVDNet) -> float:
            dev = net.global_mean.device
            for name, (u, i, r) in parts.items():
                error = net(u.to(dev), i.to(dev)) - r.to(dev)
                self.rmse_[name].append(float(error.square().mean().sqrt()))
            return -self.rmse_["valid" if valid is not None else "train"][-1]

        self.history_ = fit_net(net, batches, n_epochs=self.n_epochs, lr=self.lr, optimizer=self.optimizer,
                                validate=record_rmse, patience=self.patience, clip=None, device=self.device,
                                seed=self.seed, progress=self.progress, name="FunkSVD")
        self._keep(net.cpu())
        self.global_mean_ = float(net.global_mean)
        self.user_bias_ = net.user_bias.detach().numpy().copy()

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings for the pairs (users[k], items[k]): float32 array of shape (n,)."""
        users = self._check_users(users)
        items = self._check_ids(items, self.n_items_, "item")
        if len(users) != len(items):
            raise ValueError(f"users and items must pair up: got {len(users)} users and {len(items)} items.")
        dot = (self.user_factors_[users] * self.item_factors_[items]).sum(-1)
        return (self.global_mean_ + self.user_bias_[users] + self.item_bias_[items] + dot).astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return super()._score(users) + self.global_mean_ + self.user_bias_[users, None]


def _triples(data: Interactions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r = data.ratings
    return (torch.tensor(r["user"].to_numpy(np.int64)), torch.tensor(r["item"].to_numpy(np.int64)),
            torch.tensor(r["rating"].to_numpy(np.float32)))


class BPR(_Factors):
    """Bayesian Personalized Ranking: matrix factorisation trained on (user, positive, negative) triples.

    Deviations from Rendle et al. (2009): instead of bootstrap-sampling triples one at a time, each
    epoch visits every (user, item) pair of the training set once in shuffled minibatches, each with
    one negative drawn uniformly from the user's unseen items; gradients of a minibatch are summed;
    Adam is the default optimiser (``optimizer="sgd"`` is LearnBPR's update). The item bias is
    optional (``item_bias=False`` gives the plain dot product of the paper). Training runs in
    `reclab.train.fit_net` with clipping off; with ``valid`` it stops early on validation NDCG@10
    and keeps the best epoch.

    Parameters
    ----------
    n_factors, n_epochs, lr, reg, batch_size, optimizer, init_std : as in `FunkSVD`.
    item_bias : learn an item bias b_i next to the factors.
    patience, device, seed, progress : as in `reclab.train.fit_net` (patience applies with ``valid``).

    Attributes
    ----------
    loss_ : the mean loss per training triple in each epoch.
    history_ : the `reclab.train.History` of the fit (not saved).
    """

    def __init__(self, *, n_factors: int = 128, n_epochs: int = 40, lr: float = 0.01, reg: float = 0.01,
                 batch_size: int = 4096, optimizer: str = "adam", item_bias: bool = True,
                 init_std: float = 0.1, patience: int | None = 5, device: str = "auto", seed: int = 0,
                 progress: bool = False):
        self.n_factors, self.n_epochs, self.lr, self.reg = n_factors, n_epochs, lr, reg
        self.batch_size, self.optimizer, self.item_bias = batch_size, optimizer, item_bias
        self.init_std, self.patience = init_std, patience
        self.device, self.seed, self.progress = device, seed, progress

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        _check_training(self)
        coo = self.seen_.tocoo()  # each (user, item) pair once, however often it was rated
        users, pos = coo.row.astype(np.int64), coo.col.astype(np.int64)
        net = BPRNet(self.n_users_, self.n_items_, self.n_factors, self.item_bias, self.init_std,
                     torch.Generator().manual_seed(int(self.seed)), self.reg)

        def batches(rng: np.random.Generator):
            neg = torch.from_numpy(sample_negatives(self.seen_, users, rng))
            u, i = torch.from_numpy(users), torch.from_numpy(pos)
            for batch in torch.from_numpy(rng.permutation(len(users))).split(int(self.batch_size)):
                yield {"user": u[batch], "pos": i[batch], "neg": neg[batch]}

        def validate(net: BPRNet) -> float:
            self._keep(net)  # scoring reads the numpy factors
            return validation_ndcg(self, train, valid)

        self.history_ = fit_net(net, batches, n_epochs=self.n_epochs, lr=self.lr, optimizer=self.optimizer,
                                validate=validate if valid is not None else None,
                                patience=self.patience if valid is not None else None,
                                clip=None, device=self.device, seed=self.seed, progress=self.progress, name="BPR")
        self._keep(net)
        n_batches = -(-len(users) // self.batch_size)  # fit_net's loss is the mean over batches of their sums
        self.loss_ = (self.history_.frame["loss"] * n_batches / len(users)).tolist()


def als_solve(fixed: np.ndarray, matrix: sp.csr_matrix, alpha: float, reg: float,
              block: int = 1 << 12) -> np.ndarray:
    """One ALS half-step: the factors of every row of ``matrix`` given the other side's ``fixed``.

    For row u with confidences c_ui = 1 + alpha·r_ui and preferences p_ui = [r_ui > 0], solves
    (YᵀY + Yᵀ(C_u − I)Y + reg·I) x_u = Yᵀ C_u p_u, where Y = ``fixed``. YᵀY is shared by all rows;
    the correction Yᵀ(C_u − I)Y only involves the row's own nonzeros, so rows are sorted by length,
    gathered into padded blocks of about ``block`` entries and solved together with a batched
    Cholesky factorisation — no Python loop over rows.

    Parameters
    ----------
    fixed : (n_cols, F) factors of the other side; float32 or float64, the dtype computed in.
    matrix : (n_rows, n_cols) sparse, nonnegative values r_ui.

    Returns
    -------
    (n_rows, F) array of the dtype of ``fixed``; a row without nonzeros gets zeros.

    Examples
    --------
    >>> X = als_solve(Y, R, alpha=5.0, reg=10.0)      # doctest: +SKIP
    >>> Y = als_solve(X, R.T.tocsr(), alpha=5.0, reg=10.0)   # doctest: +SKIP
    """
    Y = torch.as_tensor(np.asarray(fixed))  # (C, F)
    if Y.dtype not in (torch.float32, torch.float64):
        Y = Y.double()
    matrix = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    matrix.eliminate_zeros()  # a stored 0 is no interaction: p_ui = 0
    f = Y.shape[1]
    gram = Y.T @ Y + reg * torch.eye(f, dtype=Y.dtype)  # (F, F)
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
    return out.numpy()


class ALS(_Factors):
    """Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008).

    Minimises Σ_ui c_ui (p_ui − x_u·y_i)² + reg (Σ‖x_u‖² + Σ‖y_i‖²) over all user × item cells, with
    p_ui = 1 for a training interaction and 0 otherwise, c_ui = 1 + alpha·r_ui, and r_ui = 1
    (``values="binary"``) or the star rating (``values="rating"``).

    Deviations from the paper: r_ui is the binary indicator or the rating rather than a watch
    time; the log-scaled confidence variant is left out; factors start from N(0, init_std²) noise.

    Attributes
    ----------
    loss_ : the objective after each epoch (one user half-step and one item half-step).
    """

    def __init__(self, *, n_factors: int = 128, n_epochs: int = 15, reg: float = 20.0, alpha: float = 5.0,
                 values: str = "binary", init_std: float = 0.01, seed: int = 0):
        self.n_factors, self.n_epochs, self.reg, self.alpha = n_factors, n_epochs, reg, alpha
        self.values, self.init_std, self.seed = values, init_std, seed

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        _check_training(self)
        _check("alpha", self.alpha, 0, False)
        if self.values not in ("binary", "rating"):
            raise ValueError(f"values={self.values!r} is not supported; use 'binary' or 'rating'.")
        R = train.to_csr(self.values).astype(np.float64)  # (U, I); a repeated pair keeps its latest rating
        Rt = R.T.tocsr()
        generator = torch.Generator().manual_seed(int(self.seed))
        Y = (torch.randn(self.n_items_, self.n_factors, generator=generator) * self.init_std).numpy()  # float32
        self.loss_ = []
        for _ in range(self.n_epochs):
            X = als_solve(Y, R, self.alpha, self.reg)
            Y = als_solve(X, Rt, self.alpha, self.reg)
            self.loss_.append(als_objective(X, Y, R, self.alpha, self.reg))
        self.user_factors_, self.item_factors_ = X, Y
        self.item_bias_ = np.zeros(self.n_items_, np.float32)


def als_objective(X: np.ndarray, Y: np.ndarray, R: sp.csr_matrix, alpha: float, reg: float) -> float:
    """Σ_ui c_ui (p_ui − x_u·y_i)² + reg(‖X‖² + ‖Y‖²), without forming the dense matrix.

    Over all cells, Σ (p − s)² = Σ s² − 2 Σ_{p=1} s + nnz, with Σ s² = trace((XᵀX)(YᵀY)); the extra
    confidence alpha·r only touches the nonzeros.
    """
    R = sp.csr_matrix(R, dtype=np.float64, copy=True)
    R.eliminate_zeros()
    coo = R.tocoo()
    rows, cols, r = coo.row, coo.col, coo.data
    s = np.einsum("nf,nf->n", X[rows], Y[cols])  # (nnz,)
    everywhere = np.sum((X.T @ X) * (Y.T @ Y)) - 2 * s.sum() + len(s)
    extra = np.sum(alpha * r * (1 - s) ** 2)
    return float(everywhere + extra + reg * (np.sum(X**2) + np.sum(Y**2)))
