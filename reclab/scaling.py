"""How big are recommenders, and does making ours bigger help? Parameter counts, a ladder of sizes,
training SASRec at one point of a scaling grid, and fitting a power law (notebook 09).

Scaling laws (Kaplan et al., "Scaling Laws for Neural Language Models", 2020) say a language
model's loss falls as a power of its parameters, data and compute until one of them runs out.
HSTU (Zhai et al., "Actions Speak Louder than Words: Trillion-Parameter Sequential Transducers for
Generative Recommendations", ICML 2024) reports the same shape for sequential recommenders trained
on billions of user actions. `train_point` trains one SASRec of a given width, depth and share of
the training users, so `benchmarks/scaling.py` can ask how far ml-100k follows such a law.

Compute is estimated, not measured: ``flops ≈ 6 × tokens × (non-embedding parameters + d ×
(n_items + 1))``, Kaplan's ``6 N D`` (forward and backward) with the full-softmax output layer
counted, because at these sizes scoring the catalogue is most of the work. Attention's own
``O(L² d)`` term is left out; it is small next to the rest for histories of ~100 items.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import Interactions, Split

# Published sizes, with their source. The course's own models are counted live by `n_parameters`.
LADDER = pd.DataFrame([
    ("TIGER generative retrieval (T5-style encoder-decoder)", 13e6, "generator", "Rajput et al., NeurIPS 2023"),
    ("all-MiniLM-L6-v2 (the course's text encoder)", 22.7e6, "encoder",
     "sentence-transformers model card, huggingface.co/sentence-transformers/all-MiniLM-L6-v2"),
    ("BERT-base", 110e6, "encoder", "Devlin et al., NAACL 2019"),
    ("P5 (T5-base backbone)", 223e6, "generator", "Geng et al., RecSys 2022"),
    ("TALLRec (LLaMA-7B + LoRA)", 7e9, "ranker", "Bao et al., RecSys 2023"),
    ("GPT-3", 175e9, "generator", "Brown et al., NeurIPS 2020"),
    ("Llama 3.1 405B", 405e9, "generator", "Grattafiori et al., The Llama 3 Herd of Models, 2024"),
    ("HSTU generative recommender (mostly embedding tables)", 1.5e12, "generator", "Zhai et al., ICML 2024"),
], columns=["model", "parameters", "role", "source"])


def ladder(course: dict[str, int]) -> pd.DataFrame:
    """`LADDER` plus the course's own models (``{name: parameters}``, role "trained here"), smallest first."""
    ours = pd.DataFrame({"model": list(course), "parameters": [float(v) for v in course.values()],
                         "role": "trained here", "source": "counted in notebook 09"})
    return pd.concat([ours, LADDER], ignore_index=True).sort_values("parameters", kind="stable", ignore_index=True)


def n_parameters(model) -> dict[str, int]:
    """Learned numbers of a fitted reclab model: ``{"total", "embedding", "non-embedding"}``.

    A torch model counts its net's parameters; its embedding tables (``nn.Embedding``) are the
    "embedding" part, the rest (attention, feed-forward, norms, adaptors) "non-embedding". A numpy
    model counts the arrays it saves (its ``_state``), all of them "non-embedding" except factor
    tables of users and items, which are embeddings too.

    Examples
    --------
    >>> n_parameters(SASRec(n_epochs=1).fit(split.train))["total"]   # doctest: +SKIP
    """
    from torch import nn

    net = getattr(model, "net_", None)
    if isinstance(net, nn.Module):
        total = sum(p.numel() for p in net.parameters())
        embedding = sum(p.numel() for m in net.modules() if isinstance(m, nn.Embedding) for p in m.parameters())
        return {"total": int(total), "embedding": int(embedding), "non-embedding": int(total - embedding)}
    if not hasattr(model, "_state"):
        raise TypeError(f"model={type(model).__name__} is not a reclab recommender; pass a fitted one.")
    model._fitted(model._state[0])
    sizes = {name: int(np.size(getattr(model, name))) for name in model._state
             if isinstance(getattr(model, name, None), np.ndarray)}
    embedding = sum(v for k, v in sizes.items() if k in ("user_factors_", "item_factors_"))
    total = sum(sizes.values())
    return {"total": total, "embedding": embedding, "non-embedding": total - embedding}


def share_of_users(train: Interactions, share: float, seed: int = 0) -> Interactions:
    """The training rows of a random ``share`` of the users who have any (ids unchanged).

    The other users keep their validation and test rows, and SASRec scores them from their
    history like anyone else: only what the model *learns from* shrinks.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share={share!r} must be in (0, 1]: the share of training users to keep.")
    users = np.unique(train.ratings["user"].to_numpy())
    keep = np.random.default_rng([seed, 0x5CA1]).choice(users, size=max(1, round(share * len(users))), replace=False)
    rows = train.ratings["user"].isin(keep).to_numpy()
    return train.with_ratings(train.ratings[rows], name=f"{train.name} ({share:.0%} of users)")


@dataclass
class Point:
    """One trained model of the grid, as a row of the scaling table (`as_row`)."""

    width: int
    depth: int
    share: float
    parameters: int
    non_embedding: int
    tokens: int
    flops: float
    best_epoch: int
    epochs: int
    valid_ndcg: float
    ndcg: float
    ndcg_lo: float
    ndcg_hi: float
    seconds: float

    def as_row(self) -> dict:
        return dict(self.__dict__)


def train_point(split: Split, width: int, depth: int, share: float = 1.0, *, seed: int = 0,
                n_epochs: int = 200, patience: int = 10, max_len: int = 200, progress: bool = False) -> Point:
    """Train SASRec (``n_factors=width, n_blocks=depth``) on ``share`` of the training users and test it.

    Early stopping on validation NDCG@10 (as everywhere in the course); the test NDCG@10 comes with
    its 95% bootstrap interval over users. ``tokens`` counts the next-item targets the net was
    trained on over all the epochs it ran; ``flops`` is the estimate in the module docstring.
    """
    from .evaluation import evaluate
    from .models import SASRec

    train = share_of_users(split.train, share, seed) if share < 1 else split.train
    start = time.perf_counter()
    model = SASRec(n_factors=width, n_blocks=depth, max_len=max_len, n_epochs=n_epochs, patience=patience,
                   seed=seed, progress=progress).fit(train, valid=split.valid)
    seconds = time.perf_counter() - start
    res = evaluate(model, split, 10, metrics=("NDCG",)).iloc[0]
    counts = n_parameters(model)
    per_epoch = sum(max(min(len(s), max_len + 1) - 1, 0) for s in train.sequences())
    epochs = len(model.history_.frame)
    tokens = per_epoch * epochs
    flops = 6.0 * tokens * (counts["non-embedding"] + width * (split.train.n_items + 1))
    return Point(width, depth, float(share), counts["total"], counts["non-embedding"], int(tokens), flops,
                 int(model.history_.best_epoch), int(epochs), float(model.history_.best_value), float(res["value"]),
                 float(res["lo"]), float(res["hi"]), round(seconds, 1))


def fit_power_law(x, y) -> tuple[float, float]:
    """Least squares of ``log y = log a + b log x``: returns ``(a, b)`` for ``y ≈ a · x**b``.

    Examples
    --------
    >>> a, b = fit_power_law([1, 10, 100], [2, 2 * 10 ** 0.5, 20])
    >>> round(a, 6), round(b, 6)
    (2.0, 0.5)
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2, got shapes {x.shape} and {y.shape}.")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("a power law needs x > 0 and y > 0 (logs are taken); drop the non-positive points.")
    if np.ptp(np.log(x)) == 0:
        raise ValueError("x takes one value only; a slope needs at least two different x.")
    b, log_a = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(log_a)), float(b)


def flattens_at(table: pd.DataFrame, x: str = "parameters") -> float:
    """The smallest ``x`` whose NDCG@10 is inside the best point's 95% interval: beyond it, more
    ``x`` buys nothing this data can tell apart from noise."""
    best = table.loc[table["ndcg"].idxmax()]
    inside = table[table["ndcg"] >= best["ndcg_lo"]]
    return float(inside[x].min())


def plot_ladder(table: pd.DataFrame, ax=None):
    """Horizontal bars of ``table["parameters"]`` on a log axis, one per ``table["model"]``; returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ax = ax or plt.subplots(figsize=(8, 0.4 * len(table) + 1))[1]
    colours = {"trained here": "tab:blue", "encoder": "tab:green", "ranker": "tab:orange", "generator": "tab:red"}
    ax.barh(table["model"], table["parameters"], color=[colours.get(r, "grey") for r in table["role"]])
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("parameters (log scale)")
    roles = [r for r in colours if r in set(table["role"])]
    ax.legend(handles=[Patch(color=colours[r], label=r) for r in roles], loc="upper right", fontsize=8)
    return ax


def plot_scaling(table: pd.DataFrame, x: str = "parameters", by: str = "depth", fit: bool = False, ax=None):
    """Test NDCG@10 (with its 95% interval) against ``x`` on log-log axes, one line per value of ``by``.

    ``fit=True`` adds the power law `fit_power_law` finds over all the points (dashed).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for value, group in table.sort_values(x).groupby(by):
        ax.errorbar(group[x], group["ndcg"], yerr=[group["ndcg"] - group["ndcg_lo"], group["ndcg_hi"] - group["ndcg"]],
                    marker="o", capsize=3, label=f"{by} {value}")
    if fit:
        a, b = fit_power_law(table[x], table["ndcg"])
        grid = np.geomspace(table[x].min(), table[x].max(), 50)
        ax.plot(grid, a * grid ** b, "k--", linewidth=1, label=f"fit: NDCG ∝ {x}^{b:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"{x} (log scale)")
    ax.set_ylabel("test NDCG@10 (log scale)")
    ax.legend(fontsize=8)
    return ax
