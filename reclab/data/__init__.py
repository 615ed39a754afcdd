"""Data: MovieLens loaders, synthetic data with planted structure, and splits."""
from .interactions import Interactions
from .movielens import SIZES, cache_folder, load_movielens, offline_100k_folder
from .splits import Split, future_share, leave_last_out, random_split, temporal_split
from .synthetic import make_synthetic

__all__ = [
    "Interactions",
    "SIZES",
    "Split",
    "cache_folder",
    "future_share",
    "leave_last_out",
    "load_movielens",
    "make_synthetic",
    "offline_100k_folder",
    "random_split",
    "temporal_split",
]
