"""Recommenders. Every one follows the contract in `reclab.models.base`.

Model families live one per module; they are imported on first use (``from reclab.models import
SASRec`` loads only ``reclab.models.sasrec``), so importing reclab stays fast and torch is loaded
only by the models that need it.
"""
from importlib import import_module

from .base import NotFittedError, Recommender
from .baselines import Popularity, Random

_MODULES = {
    "ContentBased": "content",
    "UserKNN": "knn",
    "ItemKNN": "knn",
    "EASE": "ease",
    "DPEASE": "ease",
    "FunkSVD": "mf",
    "BPR": "mf",
    "ALS": "als",
    "Hybrid": "hybrid",
    "FeatureUsers": "hybrid",
    "GMF": "ncf",
    "MLP": "ncf",
    "NeuMF": "ncf",
    "MarkovChain": "markov",
    "GRU4Rec": "gru4rec",
    "SASRec": "sasrec",
    "BERT4Rec": "bert4rec",
    "Caser": "caser",
    "LMZeroShot": "lm",
    "TextSASRec": "lm",
    "Rerank": "rerank",
    "SemanticIDRec": "semantic",
    "semantic_ids": "semantic",  # the residual k-means tokenizer of item vectors
    "sample_negatives": "_sampling",  # the negative sampler BPR and the NCF models share
}

__all__ = ["NotFittedError", "Popularity", "Random", "Recommender", *_MODULES]


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(import_module(f".{_MODULES[name]}", __name__), name)
    raise AttributeError(f"module 'reclab.models' has no attribute {name!r}")
