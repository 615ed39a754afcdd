"""Recommenders. Every one follows the contract in `reclab.models.base`."""
from .base import NotFittedError, Recommender
from .baselines import Popularity, Random

__all__ = ["NotFittedError", "Popularity", "Random", "Recommender"]
