"""ContentBased: TF-IDF profiles and cosine scores checked by hand, explanations, MiniLM, bad input."""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import ContentBased, Popularity
from reclab.models.content import embed_texts, item_text, load_minilm

# A toy catalogue small enough to do TF-IDF by hand. "title:star" is shared by items 0 and 1
# only (df 2); "genre:Sci-Fi" by 0, 1, 3 (df 3), so star is the rarer, heavier shared feature.
ITEMS = pd.DataFrame({
    "item_id": [10, 11, 12, 13],
    "title": ["Star Wars", "Star Trek", "Love Story", "Space Heat"],
    "year": pd.array([1977, 1979, 1970, 1995], dtype="Int64"),
    "genres": [["Action", "Sci-Fi"], ["Sci-Fi"], ["Drama", "Romance"], ["Action", "Sci-Fi"]],
})
TOKENS = [  # written out by hand, independently of item_tokens
    ["title:star", "title:wars", "genre:Action", "genre:Sci-Fi", "decade:1970s"],
    ["title:star", "title:trek", "genre:Sci-Fi", "decade:1970s"],
    ["title:love", "title:story", "genre:Drama", "genre:Romance", "decade:1970s"],
    ["title:space", "title:heat", "genre:Action", "genre:Sci-Fi", "decade:1990s"],
]


def toy(rows, users=(0, 1, 2)) -> Interactions:
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return Interactions.from_frames(ratings, ITEMS, pd.DataFrame({"user_id": list(users)}))


# user 0 loves Star Wars (5) and dislikes Love Story (1); user 1 gave 4 to two items; user 2 is new
RATINGS = [(0, 10, 5.0, 1), (0, 12, 1.0, 2), (1, 10, 4.0, 1), (1, 13, 4.0, 2)]


def hand_tfidf():
    """Smoothed TF-IDF (scikit-learn's default): idf = ln((1 + n) / (1 + df)) + 1, rows unit-norm."""
    vocab = sorted({t for ts in TOKENS for t in ts})
    counts = np.array([[ts.count(t) for t in vocab] for ts in TOKENS], float)
    idf = np.log((1 + len(TOKENS)) / (1 + (counts > 0).sum(0))) + 1
    X = counts * idf
    return vocab, X / np.linalg.norm(X, axis=1, keepdims=True)


def dense(model):
    vocab = list(model.features_)
    return vocab, model.item_features_.toarray()


def test_tfidf_item_profiles_match_hand_computation():
    model = ContentBased().fit(toy(RATINGS))
    vocab, X = hand_tfidf()
    got_vocab, got = dense(model)
    assert sorted(got_vocab) == vocab
    order = [got_vocab.index(t) for t in vocab]
    np.testing.assert_allclose(got[:, order], X, rtol=1e-5)


def test_user_profile_and_cosine_scores_match_numpy():
    model = ContentBased(interest=1.0).fit(toy(RATINGS))
    vocab, X = hand_tfidf()
    # user 0: mean 3, weights 5 - 3 + 1 = 3 and 1 - 3 + 1 = -1
    profile = 3 * X[0] - 1 * X[2]
    expected = X @ profile / np.linalg.norm(profile)
    np.testing.assert_allclose(model.score(0), expected[None, :], rtol=1e-5, atol=1e-6)
    got_vocab = list(model.features_)
    order = [got_vocab.index(t) for t in vocab]
    np.testing.assert_allclose(model.profiles_[0].toarray().ravel()[order], profile, rtol=1e-5)


def test_disliked_items_push_away():
    model = ContentBased(interest=1.0).fit(toy(RATINGS))
    scores = model.score(0)[0]
    assert scores[1] > 0 > scores[2]  # Star Trek (like Star Wars) up, Love Story (disliked) down


def test_flat_ratings_without_interest_count_every_item_the_same():
    model = ContentBased(interest=0.0).fit(toy(RATINGS))
    _, X = hand_tfidf()
    profile = X[0] + X[3]  # user 1 gave 4 and 4: centred weights are 0, so equal weights
    np.testing.assert_allclose(model.score(1)[0], X @ profile / np.linalg.norm(profile), rtol=1e-5, atol=1e-6)


def test_explain_names_the_shared_rare_feature_and_the_liked_item():
    model = ContentBased().fit(toy(RATINGS))
    why = model.explain(0, 1)  # why Star Trek for user 0?
    assert why["features"]["feature"].iloc[0] == "title:star"
    assert why["items"]["title"].iloc[0] == "Star Wars"
    assert why["items"].set_index("title").loc["Love Story", "contribution"] < 0
    assert np.isclose(why["score"], model.score(0)[0, 1])
    assert "Star Trek" in why["text"] and "title:star" in why["text"]


def test_user_without_history_gets_a_clear_error_and_score_ratings_works():
    model = ContentBased().fit(toy(RATINGS))
    with pytest.raises(ValueError, match="user 2 .*no ratings in train.*score_ratings"):
        model.score([0, 2])
    np.testing.assert_allclose(model.score_ratings({0: 5.0, 2: 1.0}), model.score(0)[0], rtol=1e-6)
    with pytest.raises(ValueError, match="non-empty dict"):
        model.score_ratings({})
    with pytest.raises(ValueError, match="finite"):
        model.score_ratings({0: float("nan")})
    with pytest.raises(KeyError, match="item index 9"):
        model.score_ratings({9: 4.0})


def test_bad_input_empty_nan_duplicates_and_options():
    data = toy(RATINGS)
    with pytest.raises(ValueError, match="no interactions"):
        ContentBased().fit(data.with_ratings(data.ratings.iloc[:0]))
    nan = data.ratings.copy()
    nan.loc[1, "rating"] = np.nan
    with pytest.raises(ValueError, match="1 NaN rating"):
        ContentBased().fit(data.with_ratings(nan))
    dup = pd.concat([data.ratings, data.ratings.iloc[[1]].assign(rating=5.0, timestamp=9)], ignore_index=True)
    with pytest.warns(UserWarning, match="1 row\\(s\\) that repeat a \\(user, item\\) pair; .*latest"):
        model = ContentBased().fit(data.with_ratings(dup))
    assert model.weights_[0].toarray().ravel()[2] == pytest.approx(5.0 - 5.0 + 1.0)  # latest rating: 5
    with pytest.raises(ValueError, match="encoder='bert'"):
        ContentBased(encoder="bert").fit(data)
    with pytest.raises(ValueError, match="needs item metadata"):
        ContentBased().fit(replace(data, items=data.items[["item_id"]]))


def test_save_load_round_trip(tmp_path):
    model = ContentBased().fit(toy(RATINGS))
    again = ContentBased.load(model.save(tmp_path / "cb.npz"))
    np.testing.assert_array_equal(again.score([0, 1]), model.score([0, 1]))
    assert again.explain(0, 1)["features"]["feature"].iloc[0] == "title:star"


def test_recovers_planted_clusters_better_than_popularity():
    with pytest.warns(UserWarning, match="repeat a \\(user, item\\) pair"):  # synthetic users revisit items
        split = leave_last_out(make_synthetic(n_users=150, n_items=60, seed=3))
        content = ContentBased().fit(split.train)
    ndcg = lambda m: evaluate(m, split, 10, metrics=("NDCG",))["value"].iloc[0]  # noqa: E731
    assert ndcg(content) > ndcg(Popularity().fit(split.train)) + 0.05


# ------------------------------------------------------------------------------ MiniLM
@pytest.fixture(scope="module")
def minilm():
    return load_minilm()  # ~5 s: loaded once for the module (and memoised by reclab)


class Counting:
    """Wraps the encoder and counts calls, to see whether the disk cache was hit."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def encode(self, texts, **kwargs):
        self.calls += 1
        return self.model.encode(texts, **kwargs)


def test_minilm_loads_offline_and_gives_unit_norm_384d(minilm):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    vectors = minilm.encode(["Toy Story (1995) — Animation"], normalize_embeddings=True)
    assert vectors.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_minilm_similar_titles_closer_and_cache_is_hit(minilm, tmp_path):
    texts = ["Toy Story (1995) — Animation, Children's, Comedy",
             "Toy Story 2 (1999) — Animation, Children's, Comedy",
             "Schindler's List (1993) — Drama, War"]
    counter = Counting(minilm)
    first = embed_texts(texts, cache_dir=tmp_path, model=counter)
    second = embed_texts(texts, cache_dir=tmp_path, model=counter)
    assert counter.calls == 1 and list((tmp_path / "embeddings").glob("*.npy"))
    np.testing.assert_array_equal(first, second)
    assert first.shape == (3, 384) and np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert first[0] @ first[1] > first[0] @ first[2] + 0.3
    embed_texts(texts[:2], cache_dir=tmp_path, model=counter)  # other texts: another key, a miss
    assert counter.calls == 2


def test_content_based_with_minilm_encoder(minilm, tmp_path):
    model = ContentBased(encoder="minilm", cache_dir=str(tmp_path)).fit(toy(RATINGS))
    texts = [item_text(row) for row in ITEMS.to_dict("records")]
    assert texts[0] == "Star Wars (1977) — Action, Sci-Fi"
    X = minilm.encode(texts, normalize_embeddings=True)
    profile = 3 * X[0] - 1 * X[2]
    np.testing.assert_allclose(model.score(0)[0], X @ profile / np.linalg.norm(profile), atol=1e-4)
    assert model.similar_items(0, k=1)[0][0] == 1  # Star Wars is closest to Star Trek
    assert model.explain(0, 1)["features"].empty and model.explain(0, 1)["items"]["item"].iloc[0] == 0


def test_notebook_02_exercises_accept_hand_answers(capsys):
    import reclab.exercises_content  # noqa: F401  (registers the exercises)
    from reclab.exercises import check

    data = toy(RATINGS)
    vocab, X = hand_tfidf()
    check("02-idf", np.log(5 / 4) + 1, data, "genre:Sci-Fi")  # 3 of 4 items are Sci-Fi
    check("02-cosine", X[0] @ X[1], data, 0, 1)
    check("02-top-profile-feature", vocab[int(np.argmax(3 * X[0] - X[2]))], data, 0)
    check("02-new-user", ..., data, {0: 5.0})
    out = capsys.readouterr().out.splitlines()
    assert [line[0] for line in out] == ["✅", "✅", "✅", "⬜"], out
