"""Language-model recommenders: items known by the sentence a pretrained encoder makes of their text.

Every item is read as ``"Title (year) — Genre, Genre"`` (`reclab.models.content.item_text`) and
encoded by all-MiniLM-L6-v2, a Sentence-BERT model (Reimers & Gurevych, "Sentence-BERT: Sentence
Embeddings using Siamese BERT-Networks", EMNLP 2019; its model card on Hugging Face: MiniLM-L6
fine-tuned with a contrastive objective on over a billion sentence pairs), packaged offline and cached on disk
(`reclab.models.content.embed_texts`). An item nobody has interacted with yet still has a text,
so both models here can rank cold items, which ID-based models cannot.

- `LMZeroShot`: no training at all. A user is the recency-weighted sum of the vectors of the
  items in their history, an item's score the cosine to it; a free-text query ("a funny space
  adventure") is scored the same way (`LMZeroShot.query`).
- `TextSASRec`: SASRec (Kang & McAuley, ICDM 2018) whose item embeddings are the frozen MiniLM
  vectors through a learned linear adaptor, alone or added to ID embeddings, at the input and at
  the output, so a cold item gets a score from its text. The adaptor follows UniSRec's parametric
  whitening (Hou et al., "Towards Universal Sequence Representation Learning for Recommender
  Systems", KDD 2022), without its mixture of experts.

MiniLM is an *encoder*: nothing here generates text, and there is no generative LLM in reclab.
Items with an empty text get a zero vector, with a warning that counts them (`item_text_vectors`).
MiniLM was trained on English; a query or title in another language is encoded as it is, not
translated (see `check_query`).
"""
from __future__ import annotations

import math
import unicodedata
import warnings

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Interactions
from ._sequence import next_item_loss
from .base import Bool, Real, Recommender
from .content import embed_texts, item_text, load_minilm
from .sasrec import SASRec, SASRecNet

TEXT_COLUMNS = ("title", "year", "genres")


# ------------------------------------------------------------------------------ item texts and vectors
def item_texts(items: pd.DataFrame) -> list[str]:
    """The sentence of every item (``"Title (year) — Genre, Genre"``, stripped; "" when it has none).

    Raises a ValueError when ``items`` has none of the columns title, year, genres.

    Examples
    --------
    >>> item_texts(pd.DataFrame({"title": ["Toy Story", ""], "year": [1995, None], "genres": [["Comedy"], []]}))
    ['Toy Story (1995) — Comedy', '']
    """
    if not set(TEXT_COLUMNS) & set(items.columns):
        raise ValueError(f"the item table has none of the columns {', '.join(TEXT_COLUMNS)} (it has "
                         f"{list(items.columns)}), so items have no text for a language model; load data with "
                         "item metadata (load_movielens) or set data.items['title'].")
    return [item_text(row).strip() for row in items.to_dict("records")]


def item_text_vectors(texts: list[str], *, cache_dir: str | None = None, device: str = "cpu",
                      stacklevel: int = 2) -> np.ndarray:
    """MiniLM vectors (len(texts), 384) float32 of item texts: unit rows, a zero row for an empty text.

    An empty text (no title, year or genres) says nothing about the item: its vector is zero, so it
    is orthogonal to everything, and a warning gives how many items and the first few indices. No
    text at all is a ValueError. Non-empty texts go through `embed_texts` (cached on disk).
    """
    empty = np.array([not t for t in texts], bool)
    if empty.all():
        raise ValueError(f"all {len(texts)} items have an empty text (no title, year or genres); a language "
                         "model has nothing to read: fill data.items['title'] or use an ID-based model.")
    if empty.any():
        first = np.flatnonzero(empty)[:5].tolist()
        warnings.warn(f"{int(empty.sum())} of {len(texts)} item(s) have an empty text (no title, year or genres; "
                      f"indices {first}{' ...' if empty.sum() > 5 else ''}); they get a zero text vector, so their "
                      "text says nothing and ranks them by the rest of the model only.", stacklevel=stacklevel)
    vectors = np.zeros((len(texts), 384), np.float32)
    keep = np.flatnonzero(~empty)
    vectors[keep] = embed_texts([texts[i] for i in keep], cache_dir=cache_dir, device=device)
    return vectors


def check_query(text, name: str = "text") -> str:
    """The query stripped; TypeError unless a str, ValueError when empty, a warning when not in Latin script.

    MiniLM was trained on English sentences. A query in another language is encoded as it is
    (word pieces), not translated, and matched only through what it shares with the English item
    texts. That cannot be detected in general; a query written mostly outside the Latin script
    (Cyrillic, CJK, Arabic, ...) can, and gets a warning that its scores are unreliable.
    """
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str such as 'a funny space adventure', got {type(text).__name__}.")
    text = text.strip()
    if not text:
        raise ValueError(f"{name}={text!r} is empty; describe what to recommend, e.g. 'a funny space adventure'.")
    letters = [c for c in text if c.isalpha()]
    other = sum(not unicodedata.name(c, "").startswith("LATIN") for c in letters)
    if letters and other > len(letters) / 2:
        warnings.warn(f"{name}={text!r} is mostly outside the Latin script ({other} of {len(letters)} letters); "
                      "all-MiniLM-L6-v2 was trained on English, so its scores for this query are unreliable: "
                      "write the query in English.", stacklevel=3)
    return text


# ------------------------------------------------------------------------------ zero-shot
class LMZeroShot(Recommender):
    """Cosine between MiniLM item vectors and a recency-weighted profile of the user's history.

    No parameter is learned: ``fit`` encodes the item texts (cached on disk) and counts training
    popularity, nothing else. For a user whose history holds items ``s_1 .. s_T`` in time order
    (repeats count each time), the profile is ``u = sum_t 0.5 ** ((T - t) / half_life) x_{s_t}``:
    the latest item weighs 1, the one ``half_life`` items earlier 1/2 (``half_life=None``: all
    equal). An item's score is ``cos(u, x_i)`` in [-1, 1]. This is ContentBased(encoder="minilm")
    without ratings, year feature or popularity prior: the zero-shot baseline of the LM chapter.

    - Items with an empty text have a zero vector (warned about at ``fit``): their score is 0 for
      every user, and in a history they add nothing to the profile.
    - A user whose profile is zero (an empty history, or only items with an empty text) is scored
      by training popularity, as the sequence models do.
    - `query` / `score_text` score the catalogue for a free-text description (see `check_query`).

    Parameters
    ----------
    half_life : items after which an item's weight in the profile halves; None: no decay. The
        default, 1, was chosen on ml-100k's validation part (benchmarks/large_models.py) among
        None, 1, 3, 10 and 30: NDCG@10 0.0245 against 0.0080 without decay — the next movie
        resembles the last one or two far more than the whole history.
    cache_dir : folder (a str) where MiniLM embeddings are cached; default `reclab.data.cache_folder()`.
    device : torch device of the MiniLM encoder.

    Examples
    --------
    >>> model = LMZeroShot().fit(split.train)                        # doctest: +SKIP
    >>> items, scores = model.query("a funny space adventure", k=5)  # doctest: +SKIP
    """

    _state = ("item_vectors_", "popularity_")
    _shapes = {"item_vectors_": ("I", "D"), "popularity_": ("I",)}
    _params = {"half_life": Real(0, low_open=True, none=True)}

    def __init__(self, *, half_life: float | None = 1.0, cache_dir: str | None = None, device: str = "cpu"):
        self.half_life, self.cache_dir, self.device = half_life, cache_dir, device

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        texts = item_texts(train.items)
        self.item_vectors_ = item_text_vectors(texts, cache_dir=self.cache_dir, device=self.device, stacklevel=4)
        self.popularity_ = train.item_counts().astype(np.float32)

    def user_vectors(self, history: Interactions | None = None) -> np.ndarray:
        """(n_users, 384) the recency-weighted profiles ``u`` of every user (unnormalised), from ``history``."""
        history = self._check_history(history)

        def build(h: Interactions) -> np.ndarray:
            out = np.zeros((self.n_users_, self.item_vectors_.shape[1]), np.float32)
            for user, seq in enumerate(h.view("sequences", lambda d: d.sequences())):
                if len(seq):
                    age = np.arange(len(seq))[::-1]  # 0 for the latest item
                    w = np.ones(len(seq)) if self.half_life is None else 0.5 ** (age / float(self.half_life))
                    out[user] = w.astype(np.float32) @ self.item_vectors_[seq]
            return out

        return self._per_history(history, "lm profiles", build)

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        profiles = self.user_vectors(history)[users]
        norms = np.linalg.norm(profiles, axis=1)
        scores = (profiles @ self.item_vectors_.T) / np.maximum(norms, 1e-12)[:, None]
        scores[norms < 1e-12] = self.popularity_  # nothing to compare with: what is popular
        return scores

    def score_text(self, texts) -> np.ndarray:
        """Cosines (len(texts), n_items) between each free-text query and every item's text.

        Queries are encoded by MiniLM (not cached on disk); each is checked by `check_query`.
        """
        self._fitted("item_vectors_")
        if isinstance(texts, str):
            raise TypeError(f"texts must be a list of str, got the str {texts!r}; use query(text) for one, "
                            "or score_text([text]).")
        return self._cosines([check_query(t, f"texts[{i}]") for i, t in enumerate(texts)])

    def _cosines(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.n_items_), np.float32)
        q = np.asarray(load_minilm(self.device).encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                                       show_progress_bar=False), np.float32)
        return (q @ self.item_vectors_.T).astype(np.float32)

    def query(self, text: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items whose text is closest to ``text`` (cosine): ``(items, scores)``, each (k,).

        Examples
        --------
        >>> items, scores = model.query("a funny space adventure", k=3)   # doctest: +SKIP
        """
        self._fitted("item_vectors_")
        self._check_k(k, self.n_items_)
        scores = self._cosines([check_query(text, "text")])[0]
        order = np.lexsort((np.arange(self.n_items_), -scores))[:k]  # ties: lower item index first
        return order.astype(np.int64), scores[order]

    def _item_vectors(self) -> np.ndarray:
        return self.item_vectors_


# ------------------------------------------------------------------------------ text-based SASRec
def whiten(vectors: np.ndarray) -> np.ndarray:
    """Item text vectors centred on the mean of the non-zero rows, then unit rows (zero rows stay zero).

    MiniLM vectors of movie titles share a large common direction (any two titles have a positive
    cosine); removing it leaves what tells items apart, which the adaptor then maps.
    """
    has_text = np.linalg.norm(vectors, axis=1) > 0
    centred = np.where(has_text[:, None], vectors - vectors[has_text].mean(axis=0), 0.0)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0).astype(np.float32)


class TextSASRecNet(SASRecNet):
    """SASRecNet whose item table is ``adaptor(text)`` (+ the ID table): the same at input and output.

    ``text`` (n_items, D) frozen text vectors; ``known`` (n_items,) bool, True for items of the
    training data. Unknown items have no ID row (it stays out of their embedding) and are left out
    of the training softmax: they were not in the catalogue the model was trained on.
    """

    def __init__(self, text: torch.Tensor, known: torch.Tensor, d: int, n_blocks: int, n_heads: int, max_len: int,
                 dropout: float, loss: str, with_ids: bool, id_dropout: float = 0.0):
        n_items, D = text.shape
        super().__init__(n_items, d, n_blocks, n_heads, max_len, dropout, loss)
        if not with_ids:
            self.item_emb = None
        pad = torch.zeros(1, D, dtype=text.dtype)
        self.register_buffer("text", torch.cat([pad, text]), persistent=False)  # (n_items + 1, D); row 0 padding
        keep = torch.cat([torch.zeros(1, dtype=torch.bool), known])
        self.register_buffer("known", keep[:, None].float(), persistent=False)  # (n_items + 1, 1)
        self.register_buffer("train_bias", torch.where(known, 0.0, float("-inf")), persistent=False)  # (n_items,)
        self.adaptor = nn.Linear(D, d)
        nn.init.normal_(self.adaptor.weight, std=d ** -0.5)  # a unit text vector → a row of norm ≈ 1, as an ID row
        nn.init.zeros_(self.adaptor.bias)
        self.d, self.id_dropout = d, id_dropout

    def item_table(self) -> torch.Tensor:
        table = self.adaptor(self.text)  # (n_items + 1, d)
        table = torch.cat([torch.zeros_like(table[:1]), table[1:]])  # padding stays zero
        if self.item_emb is not None:
            keep = self.known
            if self.training and self.id_dropout > 0:  # items seen as if cold: scored by their text alone
                keep = keep * (torch.rand_like(keep) >= self.id_dropout)
            table = table + self.item_emb.weight * keep
        return table

    def embed(self, items: torch.Tensor) -> torch.Tensor:
        """items (B, L) left-padded shifted ids → (B, L, d): item table rows × √d + position embeddings."""
        L = items.shape[1]
        pos = torch.arange(self.max_len - L, self.max_len, device=items.device)
        return self.drop(F.embedding(items, self.item_table()) * math.sqrt(self.d) + self.pos_emb(pos))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return next_item_loss(self(batch["items"]), batch["targets"], self.item_table()[1:], self.loss_kind,
                              bias=self.train_bias)


class TextSASRec(SASRec):
    """SASRec on item texts: frozen MiniLM vectors through a learned adaptor, alone or plus ID embeddings.

    Every item's embedding is ``A x̃_i + b`` (+ ``e_i``, its ID embedding, with ``with_ids=True``),
    where ``x̃_i`` is the item's MiniLM vector (`whiten`: centred, unit) and ``A, b`` are learned;
    the same table embeds the history at the input and scores the catalogue at the output, so an
    item absent from the training data is scored by its text: cold items can be recommended.
    Everything else is `SASRec` (blocks, loss, early stopping, scoring from the history given).

    Deviations from SASRec and choices of ours (after UniSRec, Hou et al. KDD 2022):

    - a single linear adaptor instead of UniSRec's mixture of whitening experts; no pre-training;
    - an item with no training interactions has no ID embedding (its row is masked to 0: an
      untrained row would be noise) and is not a negative of the training softmax (it was not in
      the catalogue then; otherwise the model learns to push cold items down, as ID-only SASRec does);
    - items with an empty text get a zero text vector (a warning counts them): they are embedded
      by the adaptor's bias, plus their ID embedding with ``with_ids=True``.

    On ml-100k (benchmarks/large_models.py, one seed): text alone ranks cold items (cold-item
    HR@10 0.089 [0.050, 0.134] against 0 for SASRec and 0.028 for `LMZeroShot`) and loses 0.019
    warm NDCG@10 to SASRec (paired interval [-0.034, -0.005]); text + ID matches SASRec warm
    (0.1003 against 0.1005) and reaches cold-item HR@10 0.039 [0.011, 0.073] (0.011 without
    ``id_dropout``): pick ``with_ids=False`` when cold items matter most.

    Parameters
    ----------
    with_ids : add a learned ID embedding to each item's text embedding (True) or use text alone.
    id_dropout : with ``with_ids``, the share of items whose ID embedding is dropped at each training
        step (a fresh draw per step), as DropoutNet does (Volkovs et al., NeurIPS 2017): the net
        learns to score an item from its text alone, which is all a cold item has.
    cache_dir : folder (a str) where MiniLM embeddings are cached; default `reclab.data.cache_folder()`.
    Other parameters: as `SASRec`. ``device`` serves the MiniLM encoder and the net.

    Examples
    --------
    >>> model = TextSASRec(with_ids=False).fit(cold.train, valid=cold.valid)   # doctest: +SKIP
    """

    _state = ("net_", "popularity_", "text_")
    _shapes = {"popularity_": ("I",), "text_": ("I", "D")}
    _params = {**SASRec._params, "with_ids": Bool(), "id_dropout": Real(0, 1, high_open=True)}

    def __init__(self, *, with_ids: bool = True, id_dropout: float = 0.5, cache_dir: str | None = None, n_factors: int = 64,
                 n_blocks: int = 2, n_heads: int = 1, max_len: int = 200, dropout: float = 0.2, loss: str = "ce",
                 n_epochs: int = 200, batch_size: int = 32, lr: float = 3e-3, reg: float = 0.0, patience: int = 10,
                 device: str = "auto", seed: int = 0, progress: bool = False):
        super().__init__(n_factors=n_factors, n_blocks=n_blocks, n_heads=n_heads, max_len=max_len, dropout=dropout,
                         loss=loss, n_epochs=n_epochs, batch_size=batch_size, lr=lr, reg=reg, patience=patience,
                         device=device, seed=seed, progress=progress)
        self.with_ids, self.id_dropout, self.cache_dir = with_ids, id_dropout, cache_dir

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        encoder = "cpu" if self.device == "auto" else self.device
        self.text_ = whiten(item_text_vectors(item_texts(train.items), cache_dir=self.cache_dir, device=encoder,
                                              stacklevel=5))
        super()._fit(train, valid)

    def _build_net(self) -> TextSASRecNet:
        return TextSASRecNet(torch.from_numpy(np.asarray(self.text_, np.float32)),
                             torch.from_numpy(np.asarray(self.popularity_) > 0), int(self.n_factors),
                             int(self.n_blocks), int(self.n_heads), int(self.max_len), float(self.dropout), self.loss,
                             bool(self.with_ids), float(self.id_dropout))

    def _item_vectors(self) -> np.ndarray:
        with torch.no_grad():
            return self.net_.item_table()[1:].float().cpu().numpy()
