"""Exercises of notebooks 07 (RNN recommenders) and 08 (Transformer recommenders), registered with
`reclab.exercises`.

Importing this module makes ``check("07-...", answer, ...)`` and ``check("08-...", answer, ...)``
work. Every expected answer is computed by the package (or by PyTorch) from the inputs the
notebook passes, never hard-coded.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data import Interactions
from . import Exercise, register
from ..models.markov import transition_counts


# ------------------------------------------------------------------------------ 07 RNN recommenders
def _next_item_targets(train: Interactions) -> int:
    """Every position but the first of each history is a target: sum of (length - 1)."""
    return int(sum(max(len(s) - 1, 0) for s in train.sequences()))


def _most_frequent_successor(train: Interactions, item: int) -> int:
    row = transition_counts(train.sequences(), train.n_items)[item].toarray()[0]  # (n_items,)
    return int(np.argmax(row))  # ties: the lowest index, as argmax does


def _gru_parameters(model) -> int:
    return int(sum(p.numel() for p in model.net_.gru.parameters()))


register(Exercise(
    "07-next-item-targets",
    "How many next-item targets does one training epoch hold (every item of a history but the first)?",
    solution=_next_item_targets,
    hint="for each user's sequence of length n there are n - 1 targets; add them up over train.sequences().",
))
register(Exercise(
    "07-most-frequent-successor",
    "Which movie (item index) most often comes right after this movie in the training histories?",
    solution=_most_frequent_successor,
    hint="walk each sequence in train.sequences(), count the items at position t + 1 where position t is "
         "the movie, and take the most frequent (the lowest index on a tie).",
))
register(Exercise(
    "07-gru-parameters",
    "How many trainable numbers does the model's GRU layer hold?",
    solution=_gru_parameters,
    hint="a GRU has three gates; each has an input matrix (hidden × input), a recurrent matrix "
         "(hidden × hidden) and two bias vectors of length hidden.",
))


# ------------------------------------------------------------------------------ 08 Transformer recommenders
def _causal_mask(length: int) -> np.ndarray:
    return np.tril(np.ones((length, length), dtype=np.int64))  # row i: positions 0..i


def _causal_attention(q, k, v) -> np.ndarray:
    q, k, v = (torch.as_tensor(np.asarray(t, np.float64)) for t in (q, k, v))
    return F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0].numpy()


def _most_attended(model, user: int) -> int:
    items, weights = model.attention_maps(user)  # (L,), (n_blocks, n_heads, L, L)
    return int(items[np.argmax(weights[-1].mean(axis=0)[-1])])


register(Exercise(
    "08-causal-mask",
    "What is the causal attention mask for this length: 1 where position i may look at position j, else 0?",
    solution=_causal_mask,
    hint="position i sees itself and every earlier position: the lower triangle, diagonal included (np.tril).",
))
register(Exercise(
    "08-causal-attention",
    "What does causal self-attention softmax(Q Kᵀ / √d + mask) V give for these Q, K and V (4 decimals suffice)?",
    solution=_causal_attention,
    rtol=1e-5,
    atol=1e-4,  # an answer rounded to 4 decimals is right
    hint="scores = q @ k.T / sqrt(d); set the entries above the diagonal to -inf; softmax each row; multiply by v.",
))
register(Exercise(
    "08-most-attended",
    "Which movie (item index) does the last position of this user's history attend to most in the last "
    "block, averaged over heads?",
    solution=_most_attended,
    hint="items, weights = model.attention_maps(user); take weights[-1].mean(axis=0)[-1], find its argmax, "
         "and look up that position in items.",
))
