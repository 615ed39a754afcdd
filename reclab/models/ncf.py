"""Neural collaborative filtering: `GMF`, `MLP` and `NeuMF`.

He, Liao, Zhang, Nie, Hu & Chua, "Neural Collaborative Filtering", WWW 2017. Each model maps a
(user, item) pair to the logit of "the user interacted with the item", trained on implicit
feedback with binary cross-entropy: every observed pair is a positive (label 1) and, each epoch,
``n_negatives`` items the user never interacted with are sampled per positive (label 0).

- **GMF** (generalised matrix factorisation): ``logit = h · (p_u ⊙ q_i) + b``. With ``h`` all
  ones and ``b = 0`` it is the plain dot product of matrix factorisation; learning ``h`` weights
  the factors.
- **MLP**: the two embeddings are concatenated and passed through a tower of ReLU layers.
- **NeuMF**: both side by side, their last hidden vectors concatenated into one output layer;
  optionally initialised from a trained GMF and MLP, as in the paper.

The lesson of Rendle, Krichene, Zhang & Anderson, "Neural Collaborative Filtering vs. Matrix
Factorization Revisited" (RecSys 2020): a carefully tuned dot product (MF, or GMF) matches or beats
the MLP and NeuMF, because an MLP needs many parameters and much data to *learn* a dot product it
could have been given; and the dot product allows fast top-k retrieval, the MLP does not. The MLP
is here to be understood, not because it wins.

Targets are 0/1 interactions. Feeding 1–5 star ratings to ``BCEWithLogitsLoss`` as if they were
labels (a bug in the article this course grew from) makes the loss meaningless.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data import Interactions
from ..train import fit_net
from ._sampling import sample_negatives
from ._torch import TorchRecommender, validator
from .base import Bool, Int, Real

_MIN_FOLD_IN_BATCH = 256  # rows: fewer make the fold-in's gradient steps noisy

# ------------------------------------------------------------------------------ nets (pure torch)
class _PairNet(nn.Module):
    """What the three nets share: a logit per pair, BCE on 0/1 labels, scores for every item."""

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(users, items)).squeeze(-1)  # (B,)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self(batch["user"], batch["item"])
        return nn.functional.binary_cross_entropy_with_logits(logits, batch["label"])


def _init_embeddings(*embeddings: nn.Embedding) -> None:
    for e in embeddings:
        nn.init.normal_(e.weight, std=0.01)  # the paper's N(0, 0.01)


class GMFNet(_PairNet):
    """``logit(u, i) = h · (p_u ⊙ q_i) + b``."""

    def __init__(self, n_users: int, n_items: int, n_factors: int):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, n_factors), nn.Embedding(n_items, n_factors)
        self.out = nn.Linear(n_factors, 1)  # h and b
        _init_embeddings(self.user, self.item)

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.user(users) * self.item(items)  # (B, n_factors)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_items) of users (B,) for every item."""
        # h · (p ⊙ q) = (h ⊙ p) · q: one matrix product ranks the whole catalogue
        weighted = self.user(users) * self.out.weight  # (B, n_factors)
        return weighted @ self.item.weight.T + self.out.bias  # (B, n_items)


class MLPNet(_PairNet):
    """``logit(u, i) = h · tower([p_u, q_i]) + b``; ``layers[0]`` is the concatenated embedding size."""

    def __init__(self, n_users: int, n_items: int, layers: tuple[int, ...]):
        super().__init__()
        half = layers[0] // 2
        self.user, self.item = nn.Embedding(n_users, half), nn.Embedding(n_items, half)
        self.tower = nn.ModuleList(nn.Linear(a, b) for a, b in zip(layers[:-1], layers[1:]))
        self.out = nn.Linear(layers[-1], 1)
        _init_embeddings(self.user, self.item)

    def _top(self, h: torch.Tensor) -> torch.Tensor:
        """The tower after its first linear layer; ``h`` is that layer's pre-activation."""
        h = torch.relu(h)
        for layer in self.tower[1:]:
            h = torch.relu(layer(h))
        return h

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self._top(self.tower[0](torch.cat([self.user(users), self.item(items)], dim=-1)))  # (B, layers[-1])

    def all_features(self, users: torch.Tensor) -> torch.Tensor:
        # W [p; q] = W_p p + W_q q: compute each half once, then broadcast over all (user, item) pairs
        first, half = self.tower[0], self.user.embedding_dim
        user_part = self.user(users) @ first.weight[:, :half].T + first.bias  # (B, layers[1])
        item_part = self.item.weight @ first.weight[:, half:].T  # (n_items, layers[1])
        return self._top(user_part[:, None, :] + item_part[None, :, :])  # (B, n_items, layers[-1])

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_items) of users (B,) for every item."""
        return self.out(self.all_features(users)).squeeze(-1)  # (B, n_items)


class NeuMFNet(_PairNet):
    """``logit(u, i) = h · [p_u ⊙ q_i, tower([p'_u, q'_i])] + b``: separate embeddings per branch."""

    def __init__(self, n_users: int, n_items: int, n_factors: int, layers: tuple[int, ...]):
        super().__init__()
        self.gmf, self.mlp = GMFNet(n_users, n_items, n_factors), MLPNet(n_users, n_items, layers)
        self.out = nn.Linear(n_factors + layers[-1], 1)  # the branches' own output layers go unused

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.gmf.features(users, items), self.mlp.features(users, items)], dim=-1)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_items) of users (B,) for every item."""
        d = self.gmf.out.in_features
        left = (self.gmf.user(users) * self.out.weight[:, :d]) @ self.gmf.item.weight.T  # (B, n_items)
        right = self.mlp.all_features(users) @ self.out.weight[0, d:]  # (B, n_items)
        return left + right + self.out.bias

    @torch.no_grad()
    def load_pretrained(self, gmf: GMFNet, mlp: MLPNet, alpha: float = 0.5) -> None:
        """Copy both branches and set ``h = [alpha h_GMF, (1 - alpha) h_MLP]`` (the paper's eq. 13)."""
        self.gmf.load_state_dict(gmf.state_dict())
        self.mlp.load_state_dict(mlp.state_dict())
        self.out.weight.copy_(torch.cat([alpha * gmf.out.weight, (1 - alpha) * mlp.out.weight], dim=1))
        self.out.bias.copy_(alpha * gmf.out.bias + (1 - alpha) * mlp.out.bias)


# ------------------------------------------------------------------------------ recommenders
class _NCF(TorchRecommender):
    """Shared fitting, batches and fold-in; subclasses say which net to build and which tables are users'."""

    _params = {
        "n_negatives": Int(1), "n_epochs": Int(1), "batch_size": Int(1), "lr": Real(0, low_open=True),
        "reg": Real(0), "patience": Int(1, none=True), "fold_in_epochs": Int(0), "seed": Int(0), "progress": Bool(),
    }

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        if hasattr(self, "layers"):  # a tower is a tuple: no rule of the table expresses it
            _check_layers(self.layers)
        self.net_ = self._new_net()
        self._train(train, valid)

    def _bce_examples(self, seen, users: np.ndarray, rng: np.random.Generator):
        """(users, items, labels): each positive of ``seen``'s rows ``users`` once, ``n_negatives`` per positive.

        ``seen`` is a binary (n_users, n_items) matrix; the negatives are drawn (afresh every call)
        among the items of the user's row that are not stored in ``seen``.
        """
        rows = seen[users]
        pos_users = np.repeat(users, np.diff(rows.indptr)).astype(np.int64)  # (P,) one row per distinct positive
        neg_users = np.repeat(pos_users, int(self.n_negatives))  # (P * n_negatives,)
        all_users = np.concatenate([pos_users, neg_users])
        all_items = np.concatenate([rows.indices.astype(np.int64), sample_negatives(seen, neg_users, rng)])
        labels = np.concatenate([np.ones(len(pos_users), np.float32), np.zeros(len(neg_users), np.float32)])
        return torch.from_numpy(all_users), torch.from_numpy(all_items), torch.from_numpy(labels)

    def _training_batches(self):
        seen, batch_size = self.seen_, int(self.batch_size)

        def batches(rng: np.random.Generator):
            u, i, y = self._bce_examples(seen, np.arange(self.n_users_), rng)
            order = torch.from_numpy(rng.permutation(len(u)))
            for start in range(0, len(order), batch_size):
                idx = order[start: start + batch_size]
                yield {"user": u[idx], "item": i[idx], "label": y[idx]}

        return batches

    def _train(self, train: Interactions, valid: Interactions | None) -> None:
        evaluator = validator(train, valid)
        validate = None if evaluator is None else (lambda net: evaluator(self))  # scores with self.net_
        self.history_ = fit_net(
            self.net_, self._training_batches(), n_epochs=int(self.n_epochs),
            lr=float(self.lr), weight_decay=float(self.reg), validate=validate,
            patience=self.patience if validate is not None else None, device=self.device, seed=int(self.seed),
            progress=self.progress, name=type(self).__name__,
        )

    def _inputs(self, users: np.ndarray, history: Interactions) -> torch.Tensor:
        return torch.from_numpy(users)

    def _fold_in_batches(self, history: Interactions, users: np.ndarray):
        """The training loss on ``history``'s rows of ``users``, in as many steps an epoch as training took.

        Positives are the users' items in ``history``, negatives are drawn among the items not in
        it. An epoch holds the number of batches of a training epoch, whatever the number of users
        folded in: one user alone then moves as far as when everyone is folded in (with training's
        batch size a lone user would get a single step an epoch). A batch holds at least
        ``min(rows, 256)`` rows, cycling through the shuffled rows when there are few. A user whose
        history is now empty gets no gradient and keeps the learned vector.
        """
        seen = history.binary()
        positives = self.seen_.nnz
        steps = -(-positives * (1 + int(self.n_negatives)) // int(self.batch_size))  # training batches an epoch

        def batches(rng: np.random.Generator):
            u, i, y = self._bce_examples(seen, users, rng)
            n = len(u)
            if n == 0:  # every user folded in has an empty history: nothing to learn, no NaN loss
                return
            size = max(-(-n // steps), min(n, _MIN_FOLD_IN_BATCH))
            order = np.resize(rng.permutation(n), steps * size)  # the shuffled rows, repeated as needed
            for b in range(steps):
                idx = torch.from_numpy(order[b * size: (b + 1) * size])
                yield {"user": u[idx], "item": i[idx], "label": y[idx]}

        return batches


def _check_layers(layers) -> tuple[int, ...]:
    """The tower as a tuple of ints; a ValueError (in the style of `base.Rule`) when it is not one."""
    ok = (
        isinstance(layers, (tuple, list)) and len(layers) >= 2
        and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 1 for x in layers)
        and layers[0] % 2 == 0
    )
    if not ok:
        raise ValueError(
            f"layers={layers!r} is not valid: it must be a tower of >= 2 positive ints, the first even (it is the "
            "user and item embeddings concatenated), e.g. (64, 32, 16, 8)."
        )
    return tuple(int(x) for x in layers)


class GMF(_NCF):
    """Generalised matrix factorisation: ``logit = h · (p_u ⊙ q_i) + b``.

    Parameters
    ----------
    n_factors : size of the user and item embeddings (the paper's "predictive factors").
    n_negatives : negatives sampled per positive, afresh each epoch (the paper: 4).
    n_epochs : the most epochs to train; after ``fit(train, valid=valid)`` training stops when
        validation NDCG@10 has not improved for ``patience`` epochs and the best epoch is kept.
    batch_size, lr, reg : mini-batch size, Adam's step size, decoupled weight decay (AdamW).
    fold_in_epochs : epochs of the fold-in below; 0 scores every user with the vector learned in
        training. The defaults (GMF 2, MLP and NeuMF 10) were chosen on ml-100k without its
        valid or test part: ``benchmarks/neural.py --fold-in`` fits on split.train less each user's
        last two items and ranks the last one from the history before it. Inner NDCG@10 for 0, 1,
        2, 5, 10, 20 epochs: GMF .0753 .0733 .0744 .0704 .0699 .0694 (all within the noise, ±.012;
        2 costs little and keeps the fold-in), MLP .0686 .0713 .0718 .0730 .0734 .0746, NeuMF
        .0694 .0699 .0734 .0750 .0781 .0732.
    device : "auto", "cpu", "cuda" or "mps" (see `reclab.train.fit_net`).
    seed : seeds the initialisation, the negatives, the shuffling and the fold-in.
    progress : show a progress bar over epochs.

    The training `History` is kept in ``history_`` (not saved by `save`).

    **Fold-in.** Scored from a history other than the training data (``split.history("test")``,
    a user's new events), the users whose history differs get their user embedding refitted on
    it: ``fold_in_epochs`` epochs of the training loss (every positive of their history,
    ``n_negatives`` negatives among the items not in it), Adam with step ``lr``, every item
    parameter and the output layer frozen, starting from the learned vector (a new user starts
    from the random initialisation). It is done once per history object; the other users keep
    exactly their scores.

    Deviations from the paper (shared by `MLP` and `NeuMF`):

    - AdamW instead of Adam, with batches of 4096 and a larger step (the paper: 128–1024), which
      trains as well on ml-100k in a fraction of the time on a CPU;
    - early stopping on full-ranking NDCG@10 of the validation item (the paper ranks one held-out
      item among 100 sampled ones, which Krichene & Rendle, KDD 2020, show to mislead);
    - the output layer has a bias, as in the authors' code (their equations omit it; a constant
      cannot change a ranking).

    Negatives are drawn uniformly among the items the user has no interaction with in training,
    the paper's "unobserved interactions"; a positive is never drawn as a negative.
    """

    _params = {**_NCF._params, "n_factors": Int(1)}
    _user_tables = ("user.weight",)

    def __init__(self, *, n_factors: int = 32, n_negatives: int = 4, n_epochs: int = 40, batch_size: int = 4096,
                 lr: float = 3e-3, reg: float = 0.0, patience: int | None = 5, fold_in_epochs: int = 2,
                 device: str = "auto", seed: int = 0, progress: bool = False):
        self.n_factors, self.n_negatives, self.n_epochs, self.batch_size = n_factors, n_negatives, n_epochs, batch_size
        self.lr, self.reg, self.patience, self.fold_in_epochs = lr, reg, patience, fold_in_epochs
        self.device, self.seed, self.progress = device, seed, progress

    def _build_net(self) -> GMFNet:
        return GMFNet(self.n_users_, self.n_items_, int(self.n_factors))

    def _item_vectors(self):
        # the logit is p_u · (h ⊙ q_i) + b, so h ⊙ q_i places items in the users' space
        return (self.net_.item.weight * self.net_.out.weight).detach().cpu().numpy()


class MLP(_NCF):
    """A tower of ReLU layers over the concatenated user and item embeddings.

    Parameters
    ----------
    layers : sizes from the input up: ``layers[0]`` is the concatenated embedding size (each
        embedding has ``layers[0] // 2``), then one hidden layer per further entry, the last being
        the "predictive factors". The paper's towers halve at each layer, e.g. (64, 32, 16, 8).
    n_negatives, n_epochs, batch_size, lr, reg, patience, fold_in_epochs, device, seed, progress :
        as in `GMF`; the fold-in refits the user embedding.

    An MLP *can* approximate the dot product that GMF computes exactly, but it needs far more
    data and parameters to learn it (Rendle et al., RecSys 2020); expect it to trail GMF.
    Deviations from the paper: those of `GMF`; hidden layers use torch's default initialisation.
    """

    _user_tables = ("user.weight",)

    def __init__(self, *, layers: tuple[int, ...] = (64, 32, 16, 8), n_negatives: int = 4, n_epochs: int = 40,
                 batch_size: int = 4096, lr: float = 3e-3, reg: float = 0.0, patience: int | None = 5,
                 fold_in_epochs: int = 10, device: str = "auto", seed: int = 0, progress: bool = False):
        self.layers, self.n_negatives, self.n_epochs, self.batch_size = layers, n_negatives, n_epochs, batch_size
        self.lr, self.reg, self.patience, self.fold_in_epochs = lr, reg, patience, fold_in_epochs
        self.device, self.seed, self.progress = device, seed, progress

    def _build_net(self) -> MLPNet:
        return MLPNet(self.n_users_, self.n_items_, _check_layers(self.layers))


class NeuMF(_NCF):
    """GMF and MLP side by side, one output layer over both (the paper's "neural matrix factorisation").

    Parameters
    ----------
    n_factors : embedding size of the GMF branch.
    layers : the MLP branch's tower (see `MLP`).
    n_negatives, n_epochs, batch_size, lr, reg, patience, fold_in_epochs, device, seed, progress :
        as in `GMF`; the fold-in refits the user embeddings of both branches.

    Pre-training, the paper's recipe: fit a `GMF` (same ``n_factors``) and an `MLP` (same
    ``layers``) first, then ``NeuMF(...).fit(train, valid=valid, pretrained=(gmf, mlp))`` copies both
    branches and sets the output layer to ``[alpha h_GMF, (1 - alpha) h_MLP]`` with ``alpha = 0.5``.
    Without ``pretrained`` every weight starts at random.

    Deviations from the paper: those of `GMF`; after pre-training the paper switches to plain SGD
    (Adam's moment estimates are not carried over from the branches), here AdamW continues with a
    fresh state — pass a smaller ``lr`` (e.g. 3e-4) so it refines rather than undoes the branches.
    """

    _params = {**_NCF._params, "n_factors": Int(1)}
    _user_tables = ("gmf.user.weight", "mlp.user.weight")

    def __init__(self, *, n_factors: int = 32, layers: tuple[int, ...] = (64, 32, 16, 8), n_negatives: int = 4,
                 n_epochs: int = 40, batch_size: int = 4096, lr: float = 3e-3, reg: float = 0.0,
                 patience: int | None = 5, fold_in_epochs: int = 10, device: str = "auto", seed: int = 0,
                 progress: bool = False):
        self.n_factors, self.layers = n_factors, layers
        self.n_negatives, self.n_epochs, self.batch_size = n_negatives, n_epochs, batch_size
        self.lr, self.reg, self.patience, self.fold_in_epochs = lr, reg, patience, fold_in_epochs
        self.device, self.seed, self.progress = device, seed, progress

    def fit(self, train: Interactions, *, valid: Interactions | None = None,
            pretrained: tuple[GMF, MLP] | None = None) -> "NeuMF":
        """Fit; ``pretrained=(gmf, mlp)``, fitted on the same train, initialises both branches."""
        self._pretrained = pretrained
        try:
            return super().fit(train, valid=valid)
        finally:
            del self._pretrained

    def _build_net(self) -> NeuMFNet:
        return NeuMFNet(self.n_users_, self.n_items_, int(self.n_factors), _check_layers(self.layers))

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        pretrained = self._pretrained
        _check_layers(self.layers)
        if pretrained is not None:
            self._check_pretrained(pretrained)
        self.net_ = self._new_net()
        if pretrained is not None:
            self.net_.load_pretrained(pretrained[0].net_, pretrained[1].net_)
        self._train(train, valid)

    def _check_pretrained(self, pretrained) -> None:
        gmf, mlp = pretrained if isinstance(pretrained, (tuple, list)) and len(pretrained) == 2 else (None, None)
        if not (isinstance(gmf, GMF) and isinstance(mlp, MLP) and hasattr(gmf, "net_") and hasattr(mlp, "net_")):
            raise ValueError("pretrained must be (gmf, mlp): a fitted GMF and a fitted MLP, in that order.")
        if gmf.n_factors != self.n_factors or tuple(mlp.layers) != tuple(self.layers):
            raise ValueError(
                f"pretrained GMF has n_factors={gmf.n_factors} and MLP layers={tuple(mlp.layers)}, but this NeuMF has "
                f"n_factors={self.n_factors} and layers={tuple(self.layers)}; build NeuMF with the same sizes."
            )
        if (gmf.n_users_, gmf.n_items_, mlp.n_users_, mlp.n_items_) != (self.n_users_, self.n_items_) * 2:
            raise ValueError("pretrained models were fitted on other data; fit them on the same train as this NeuMF.")
