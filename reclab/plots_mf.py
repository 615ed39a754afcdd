"""Embeddings as geometry: item factors projected to 2-D, coloured by genre (notebook 04).

A matrix-factorisation model places every item at a point in ``n_factors`` dimensions; items that
the same users like end up close together. `project` keeps the two directions along which the
item vectors spread most (principal component analysis), and `plot_item_embeddings` draws the
items there, highlighting one genre, so a learner can see whether genre — which the model never
saw — is visible in the geometry.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .data import Interactions


def project(vectors: np.ndarray, n_components: int = 2) -> np.ndarray:
    """Principal-component coordinates of the rows of ``vectors``: shape (n, n_components).

    Exact PCA by SVD of the centred matrix (deterministic, unlike randomised solvers). Each
    component's sign is chosen so that its largest-magnitude loading is positive, so the picture
    does not flip between runs or machines.

    Examples
    --------
    >>> project(np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]]), 1).ravel()
    array([-2.,  0.,  2.])
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or not 1 <= n_components <= min(vectors.shape):
        raise ValueError(
            f"n_components={n_components!r} must be between 1 and min(vectors.shape)={min(np.shape(vectors))} "
            f"for vectors of shape {np.shape(vectors)}."
        )
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:n_components]  # (n_components, d)
    signs = np.sign(axes[np.arange(n_components), np.abs(axes).argmax(axis=1)])
    return centred @ (axes * signs[:, None]).T


def plot_item_embeddings(model, data: Interactions, genre: str, *, min_ratings: int = 0,
                         ax: plt.Axes | None = None) -> plt.Axes:
    """Scatter of a fitted model's item vectors in 2-D, items of ``genre`` highlighted.

    Parameters
    ----------
    model : a fitted recommender with item vectors (FunkSVD, BPR, ALS, ...).
    data : the `Interactions` it was fitted on (for genres and rating counts).
    genre : the genre to highlight, e.g. "Horror"; must occur in ``data.items["genres"]``.
    min_ratings : only draw items with at least this many ratings in ``data`` (rarely rated items
        keep vectors close to their random start and blur the picture).

    Returns
    -------
    The matplotlib Axes.
    """
    genres = data.items["genres"]
    known = sorted({g for gs in genres for g in gs})
    if genre not in known:
        raise ValueError(f"genre={genre!r} is not among the item genres; choose one of {known}.")
    vectors = model._item_vectors()
    if vectors is None:
        raise ValueError(f"{type(model).__name__} has no item vectors to draw; use FunkSVD, BPR or ALS.")
    keep = np.flatnonzero(data.item_counts() >= min_ratings)
    xy = project(np.asarray(vectors)[keep])  # (n, 2)
    member = np.array([genre in genres.iloc[i] for i in keep])
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    palette = sns.color_palette("deep")
    ax.scatter(*xy[~member].T, s=8, color="lightgrey", label="other items")
    ax.scatter(*xy[member].T, s=12, color=palette[3], label=genre)
    ax.set_title(f"{type(model).__name__} item vectors (PCA): {genre}")
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.legend(loc="best", frameon=False)
    return ax
