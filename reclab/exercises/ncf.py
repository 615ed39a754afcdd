"""Exercises of notebook 06 (neural collaborative filtering), registered with `reclab.exercises`.

Importing this module makes ``check("06-...", answer, ...)`` work. Every expected answer is computed
by the package from the inputs the notebook passes, never hard-coded.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data import Interactions
from . import Exercise, register


def _negative_pool(train: Interactions, user: int) -> int:
    return int(train.n_items - train.to_csr("binary")[user].nnz)


def _gmf_logit(gmf, user: int, item: int) -> float:
    net = gmf.net_
    device = net.out.weight.device
    with torch.no_grad():
        return float(net(torch.tensor([user], device=device), torch.tensor([item], device=device))[0])


def _bce(logits, labels) -> float:
    logits, labels = torch.as_tensor(np.asarray(logits, np.float64)), torch.as_tensor(np.asarray(labels, np.float64))
    return float(torch.nn.functional.binary_cross_entropy_with_logits(logits, labels))


def _head_parameters(model) -> int:
    """Trainable numbers of the net outside its embedding tables."""
    params = model.net_.named_parameters()
    return int(sum(p.numel() for name, p in params if not name.endswith(("user.weight", "item.weight"))))


register(Exercise(
    "06-negative-pool",
    "From how many items can the sampler draw a negative for this user (items they have no training interaction with)?",
    solution=_negative_pool,
    hint="count the distinct items of the user in train.ratings and subtract from train.n_items.",
))
register(Exercise(
    "06-gmf-logit",
    "What logit does the fitted GMF give to the (user, item) pair: h · (p_u ⊙ q_i) + b?",
    solution=_gmf_logit,
    rtol=1e-4,
    atol=1e-6,
    hint="p = net.user.weight[user], q = net.item.weight[item], h = net.out.weight[0], b = net.out.bias[0].",
))
register(Exercise(
    "06-bce-by-hand",
    "What is the mean binary cross-entropy of these logits against these 0/1 labels?",
    solution=_bce,
    rtol=1e-5,
    hint="σ(x) = 1 / (1 + exp(-x)); loss = -mean(y log σ(x) + (1 - y) log(1 - σ(x))).",
))
register(Exercise(
    "06-head-parameters",
    "How many trainable numbers does the model hold outside its user and item embeddings?",
    solution=_head_parameters,
    hint="a Linear(a, b) layer holds a * b weights and b biases; add up the tower and the output layer.",
))
