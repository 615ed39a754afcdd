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
  Datasets", ICDM 2008), by alternating least-squares solves; it lives in `reclab.models.als`
  and is re-exported here.

A user's vector is learned from training; scored from another history (``score(users,
history=split.history("test"))``), the users whose history changed get their vector *folded in*
with the item side fixed: ALS by its exact least-squares solve for that row (implicit's
``recalculate_user``), FunkSVD and BPR by ``fold_in_epochs`` epochs of their own loss on that
user's rows (`reclab.models._torch.fold_in`).
"""
from __future__ import annotations


import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..data import Interactions
from ..train import fit_net
from ._sampling import sample_negatives
from ._torch import TorchRecommender, validator
from .als import ALS, als_objective, als_solve  # noqa: F401 (ALS lives in its own module; re-exported)
from .base import Bool, Choice, Int, Real

# fold-in epochs, chosen on the validation part of ml-100k (``benchmarks/classic_mf.py --tune-fold-in``: of
# 0, 1, 2, 3, 5, 10 and 20 epochs, 10 scored best for both models)
FUNK_FOLD_IN, BPR_FOLD_IN = 10, 10

__all__ = ["ALS", "BPR", "BPRNet", "FunkSVD", "FunkSVDNet", "als_objective", "als_solve", "sample_negatives"]


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

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Predicted ratings of every item for ``users``: (B, n_items)."""
        dot = _rows(self.user_factors, users) @ self.item_factors.T  # (B, I)
        return self.global_mean + _rows(self.user_bias, users).unsqueeze(1) + self.item_bias + dot

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


class _BPRLoss(torch.autograd.Function):
    """`BPRNet.loss` with its gradient written out: a few passes over the batch instead of autograd's many.

    With x = p_u·(q_i − q_j) + b_i − b_j and g = ∂(−ln σ(x))/∂x = −σ(−x):
    ∂/∂p_u = g(q_i − q_j) + reg·p_u, ∂/∂q_i = g·p_u + reg·q_i, ∂/∂q_j = −g·p_u + reg·q_j,
    ∂/∂b_i = g + reg·b_i, ∂/∂b_j = −g + reg·b_j, summed into the tables with ``index_add_``
    (in index order, so the sums are the same on any number of threads).
    """

    @staticmethod
    def forward(ctx, P, Q, bias, users, pos, neg, reg: float):
        pu, qi, qj = _rows(P, users), _rows(Q, pos), _rows(Q, neg)  # (B, F) each
        bi, bj = _rows(bias, pos), _rows(bias, neg)  # (B,)
        diff = qi - qj
        x = torch.einsum("bf,bf->b", pu, diff) + (bi - bj)  # (B,)
        norms = sum(torch.vdot(t.reshape(-1), t.reshape(-1)) for t in (pu, qi, qj, bi, bj))
        ctx.save_for_backward(P, Q, bias, users, pos, neg, pu, qi, qj, bi, bj, diff, x)
        ctx.reg = reg
        return -nn.functional.logsigmoid(x).sum() + 0.5 * reg * norms

    @staticmethod
    def backward(ctx, grad):
        P, Q, bias, users, pos, neg, pu, qi, qj, bi, bj, diff, x = ctx.saved_tensors
        scale = float(grad)  # 1.0 when the loss is what is minimised
        g = torch.sigmoid(-x).mul_(-scale)  # (B,) ∂loss/∂x
        reg = ctx.reg * scale
        gcol = g.unsqueeze(1)
        grads = [None] * 7
        if ctx.needs_input_grad[0]:
            grads[0] = torch.zeros_like(P).index_add_(0, users, torch.mul(diff, gcol).add_(pu, alpha=reg))
        if ctx.needs_input_grad[1]:
            gp = gcol * pu
            grads[1] = (torch.zeros_like(Q).index_add_(0, pos, torch.add(gp, qi, alpha=reg))
                        .index_add_(0, neg, gp.neg_().add_(qj, alpha=reg)))
        if ctx.needs_input_grad[2]:
            grads[2] = torch.zeros_like(bias).index_add_(0, pos, torch.add(g, bi, alpha=reg)).index_add_(
                0, neg, torch.add(-g, bj, alpha=reg))
        return tuple(grads)


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

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """x̂ of every item for ``users``: (B, n_items)."""
        return _rows(self.user_factors, users) @ self.item_factors.T + self.item_bias

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ_batch −ln σ(x̂_ui − x̂_uj) + ½·reg·(‖p_u‖² + ‖q_i‖² + ‖q_j‖² + b_i² + b_j²).

        Batch keys: user, pos (the item i they interacted with), neg (an item j they did not).
        The gradient is written out by hand (`_BPRLoss`), which makes an epoch several times faster.
        """
        return _BPRLoss.apply(self.user_factors, self.item_factors, self.item_bias,
                              batch["user"], batch["pos"], batch["neg"], float(self.reg))


_TRAINING = {"n_factors": Int(1), "n_epochs": Int(1), "lr": Real(0, low_open=True), "reg": Real(0),
             "batch_size": Int(1), "optimizer": Choice("sgd", "adam", "adamw"), "init_std": Real(0),
             "patience": Int(1, none=True), "fold_in_epochs": Int(0), "seed": Int(), "progress": Bool()}


class _FactorNet(TorchRecommender):
    """FunkSVD and BPR: a factor net in ``net_``, its tables read as numpy arrays, fold-in of user vectors."""

    _user_tables = ("user_factors",)
    _params = _TRAINING

    def _table(self, name: str) -> np.ndarray:
        return getattr(self._fitted("net_"), name).detach().cpu().numpy().copy()

    @property
    def user_factors_(self) -> np.ndarray:
        """(n_users, n_factors) user vectors learned in training (a copy)."""
        return self._table("user_factors")

    @property
    def item_factors_(self) -> np.ndarray:
        """(n_items, n_factors) item vectors (a copy)."""
        return self._table("item_factors")

    @property
    def item_bias_(self) -> np.ndarray:
        """(n_items,) item biases (a copy)."""
        return self._table("item_bias")

    def _inputs(self, users: np.ndarray, history: Interactions) -> torch.Tensor:
        return torch.from_numpy(users)  # the net (folded in when history is not train) looks the users up

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_


def _triples(data: Interactions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r = data.ratings
    return (torch.tensor(r["user"].to_numpy(np.int64)), torch.tensor(r["item"].to_numpy(np.int64)),
            torch.tensor(r["rating"].to_numpy(np.float32)))


def _minibatches(rng: np.random.Generator, n: int, size: int, **columns: torch.Tensor):
    for batch in torch.from_numpy(rng.permutation(n)).split(int(size)):
        yield {name: column[batch] for name, column in columns.items()}


FOLD_IN_STEPS = 10  # Adam steps per user and fold-in epoch


def _per_user_steps(rng: np.random.Generator, users: np.ndarray, **columns: torch.Tensor):
    """One fold-in epoch: ``FOLD_IN_STEPS`` batches, batch k holding the k-th of as many random parts of
    every user's rows (a user with fewer rows than steps takes one row per step and skips the rest).

    So each user gets the same steps whoever else is folded in with them: Adam works coordinate by
    coordinate, and a user's row only sees the gradients of their own rows.
    """
    order = np.lexsort((rng.random(len(users)), users))  # by user, shuffled within each user
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, counts)  # position within the user's rows
    part = rank * FOLD_IN_STEPS // np.repeat(counts, counts)  # (n,) in 0..FOLD_IN_STEPS-1
    by_part = order[np.argsort(part, kind="stable")]
    for batch in np.split(by_part, np.cumsum(np.bincount(part, minlength=FOLD_IN_STEPS))[:-1]):
        if len(batch):
            index = torch.from_numpy(batch)
            yield {name: column[index] for name, column in columns.items()}


class FunkSVD(_FactorNet):
    """Biased matrix factorisation of explicit ratings, trained by minibatch SGD or Adam.

    Deviations from Funk (2006) and Koren et al. (2009): ratings are visited in shuffled minibatches
    of ``batch_size`` whose gradients are summed (``batch_size=1`` with ``optimizer="sgd"`` is the
    original per-rating update); Adam is offered as an alternative; predictions are not clipped to
    the rating scale. The ranking score of an item is its predicted rating. Training runs in
    `reclab.train.fit_net` with clipping off; the epoch kept at the end is the one with the lowest
    RMSE on ``valid`` (on train without ``valid``), and ``patience`` stops early on it.

    Scored from a history other than ``train``, each user whose ratings differ gets p_u and b_u
    refitted on all their ratings in that history: ``fold_in_epochs`` epochs of the same loss, each
    ``FOLD_IN_STEPS`` Adam steps (step ``lr``) on random parts of the user's ratings, items, item
    biases and μ fixed. A user's fold-in does not depend on who else is folded in with them.

    Parameters
    ----------
    n_factors, n_epochs, lr, reg : factors per user and item, epochs, step size, L2 weight.
    batch_size : ratings per step.
    optimizer : "sgd" (Funk's update), "adam" or "adamw" (see `reclab.train.fit_net`).
    init_std : standard deviation of the random initial factors (biases start at 0).
    patience : stop after this many epochs without a lower RMSE; None trains all ``n_epochs``.
    fold_in_epochs : epochs of the fold-in (0: a changed user keeps the training vector). The
        default was chosen on the validation part (``benchmarks/classic_mf.py --tune-fold-in``).
    device, seed, progress : as in `reclab.train.fit_net`.

    Attributes
    ----------
    rmse_ : {"train": [...], "valid": [...]}, the RMSE after each epoch ("valid" only when given).
    history_ : the `reclab.train.History` of the fit (valid = −RMSE, higher is better); not saved.
    user_factors_, item_factors_, user_bias_, item_bias_, global_mean_ : the learned parameters (numpy).
    """

    _state = ("net_", "rmse_")
    _user_tables = ("user_factors", "user_bias")

    def __init__(self, *, n_factors: int = 32, n_epochs: int = 20, lr: float = 0.01, reg: float = 0.05,
                 batch_size: int = 1024, optimizer: str = "sgd", init_std: float = 0.1,
                 patience: int | None = None, fold_in_epochs: int = FUNK_FOLD_IN, device: str = "auto",
                 seed: int = 0, progress: bool = False):
        self.n_factors, self.n_epochs, self.lr, self.reg = n_factors, n_epochs, lr, reg
        self.batch_size, self.optimizer, self.init_std, self.patience = batch_size, optimizer, init_std, patience
        self.fold_in_epochs, self.device, self.seed, self.progress = fold_in_epochs, device, seed, progress

    def _build_net(self) -> FunkSVDNet:
        return FunkSVDNet(self.n_users_, self.n_items_, int(self.n_factors), 0.0, float(self.init_std),
                          torch.Generator().manual_seed(int(self.seed)), float(self.reg))

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        users, items, ratings = _triples(train)
        self.net_ = net = self._new_net()
        net.global_mean.fill_(ratings.mean().item())
        parts = {"train": (users, items, ratings)} | ({"valid": _triples(valid)} if valid is not None else {})
        self.rmse_ = {name: [] for name in parts}

        def batches(rng: np.random.Generator):
            return _minibatches(rng, len(ratings), self.batch_size, user=users, item=items, rating=ratings)

        def record_rmse(net: FunkSVDNet) -> float:
            dev = net.global_mean.device
            for name, (u, i, r) in parts.items():
                error = net(u.to(dev), i.to(dev)) - r.to(dev)
                self.rmse_[name].append(float(error.square().mean().sqrt()))
            return -self.rmse_["valid" if valid is not None else "train"][-1]

        self.history_ = fit_net(net, batches, n_epochs=int(self.n_epochs), lr=self.lr, optimizer=self.optimizer,
                                validate=record_rmse, patience=self.patience, clip=None, device=self.device,
                                seed=int(self.seed), progress=self.progress, name="FunkSVD")

    def _fold_in_batches(self, history: Interactions, users: np.ndarray):
        r = history.ratings[history.ratings["user"].isin(users)]  # every rating of the changed users
        u, i, ratings = _triples(history.with_ratings(r))
        return lambda rng: _per_user_steps(rng, u.numpy(), user=u, item=i, rating=ratings)

    @property
    def user_bias_(self) -> np.ndarray:
        """(n_users,) user biases (a copy)."""
        return self._table("user_bias")

    @property
    def global_mean_(self) -> float:
        """μ, the mean training rating."""
        return float(self._fitted("net_").global_mean)

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings for the pairs (users[k], items[k]) from training: float32 array of shape (n,)."""
        users = self._check_users(users)
        items = self._check_ids(items, self.n_items_, "item")
        if len(users) != len(items):
            raise ValueError(f"users and items must pair up: got {len(users)} users and {len(items)} items.")
        net, device = self.net_, self.device_
        with torch.no_grad():
            out = net(torch.from_numpy(users).to(device), torch.from_numpy(items).to(device))
        return out.float().cpu().numpy()


class BPR(_FactorNet):
    """Bayesian Personalized Ranking: matrix factorisation trained on (user, positive, negative) triples.

    Deviations from Rendle et al. (2009): instead of bootstrap-sampling triples one at a time, each
    epoch visits every (user, item) pair of the training set once in shuffled minibatches, each with
    one negative drawn uniformly from the user's unseen items; gradients of a minibatch are summed
    (and written out by hand, `_BPRLoss`); Adam is the default optimiser (``optimizer="sgd"`` is
    LearnBPR's update). The item bias is optional (``item_bias=False`` gives the plain dot product
    of the paper). Training runs in `reclab.train.fit_net` with clipping off; with ``valid`` it
    stops early on validation NDCG@10 (one `reclab.evaluation.Evaluator`, history = train) and
    keeps the best epoch.

    Scored from a history other than ``train``, each user whose items differ gets p_u refitted on
    the (user, item, negative) triples of that history (negatives drawn from the items not in it):
    ``fold_in_epochs`` epochs of ``FOLD_IN_STEPS`` Adam steps (step ``lr``) per user, items fixed.

    Parameters
    ----------
    n_factors, n_epochs, lr, reg, batch_size, optimizer, init_std : as in `FunkSVD`.
    item_bias : learn an item bias b_i next to the factors.
    patience, device, seed, progress : as in `reclab.train.fit_net` (patience applies with ``valid``).
    fold_in_epochs : epochs of the fold-in (0: a changed user keeps the training vector); chosen on
        the validation part, as for `FunkSVD`.

    Attributes
    ----------
    loss_ : the mean loss per training triple in each epoch.
    history_ : the `reclab.train.History` of the fit (not saved).
    user_factors_, item_factors_, item_bias_ : the learned parameters (numpy).
    """

    _params = _TRAINING | {"item_bias": Bool()}

    def __init__(self, *, n_factors: int = 128, n_epochs: int = 40, lr: float = 0.01, reg: float = 0.01,
                 batch_size: int = 4096, optimizer: str = "adam", item_bias: bool = True,
                 init_std: float = 0.1, patience: int | None = 5, fold_in_epochs: int = BPR_FOLD_IN,
                 device: str = "auto", seed: int = 0, progress: bool = False):
        self.n_factors, self.n_epochs, self.lr, self.reg = n_factors, n_epochs, lr, reg
        self.batch_size, self.optimizer, self.item_bias = batch_size, optimizer, item_bias
        self.init_std, self.patience, self.fold_in_epochs = init_std, patience, fold_in_epochs
        self.device, self.seed, self.progress = device, seed, progress

    def _build_net(self) -> BPRNet:
        return BPRNet(self.n_users_, self.n_items_, int(self.n_factors), bool(self.item_bias),
                      float(self.init_std), torch.Generator().manual_seed(int(self.seed)), float(self.reg))

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self.net_ = net = self._new_net()
        batches = self._triples_of(train.binary(), np.arange(self.n_users_))
        evaluator = validator(train, valid)
        self.history_ = fit_net(net, batches, n_epochs=int(self.n_epochs), lr=self.lr, optimizer=self.optimizer,
                                validate=(lambda net: evaluator(self)) if evaluator is not None else None,
                                patience=self.patience if evaluator is not None else None,
                                clip=None, device=self.device, seed=int(self.seed), progress=self.progress,
                                name="BPR")
        n_pairs = train.binary().nnz
        n_batches = -(-n_pairs // int(self.batch_size))  # fit_net's loss is the mean over batches of their sums
        self.loss_ = (self.history_.frame["loss"] * n_batches / n_pairs).tolist()

    def _triples_of(self, seen: sp.csr_matrix, users: np.ndarray, fold_in: bool = False):
        """``batches(rng)``: every (user, item) pair of ``seen``'s rows ``users``, each with a fresh negative,
        in minibatches of ``batch_size`` (training) or in `_per_user_steps` (fold-in)."""
        rows = seen[users].tocoo()  # each (user, item) pair once, however often it was rated
        u, pos = users[rows.row].astype(np.int64), rows.col.astype(np.int64)
        u_t, pos_t = torch.from_numpy(u), torch.from_numpy(pos)

        def batches(rng: np.random.Generator):
            neg = torch.from_numpy(sample_negatives(seen, u, rng))
            if fold_in:
                return _per_user_steps(rng, u, user=u_t, pos=pos_t, neg=neg)
            return _minibatches(rng, len(u), self.batch_size, user=u_t, pos=pos_t, neg=neg)

        return batches

    def _fold_in_batches(self, history: Interactions, users: np.ndarray):
        return self._triples_of(history.binary(), users, fold_in=True)
