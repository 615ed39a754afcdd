"""ContentBased: TF-IDF profiles and cosine scores checked by hand, recency, years and the prior
against numpy brute force, profiles from the history given, explanations, MiniLM, bad input."""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import ContentBased, Popularity
from reclab.models.content import embed_texts, item_text, item_tokens, load_minilm

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
PLAIN = dict(interest=1.0, half_life=None, year_weight=0.0, prior=0.0)  # the textbook model: no recency, year or prior
CHOSEN = dict(interest=3.0, half_life=3.0, year_weight=0.5, prior=0.3)  # the defaults, chosen on ml-100k validation


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
    model = ContentBased(**PLAIN).fit(toy(RATINGS))
    vocab, X = hand_tfidf()
    got_vocab, got = dense(model)
    assert sorted(got_vocab) == vocab
    order = [got_vocab.index(t) for t in vocab]
    np.testing.assert_allclose(got[:, order], X, rtol=1e-5)


def test_user_profile_and_cosine_scores_match_numpy():
    model = ContentBased(**PLAIN).fit(toy(RATINGS))
    vocab, X = hand_tfidf()
    # user 0: mean 3, weights 5 - 3 + 1 = 3 and 1 - 3 + 1 = -1
    profile = 3 * X[0] - 1 * X[2]
    expected = X @ profile / np.linalg.norm(profile)
    np.testing.assert_allclose(model.score(0), expected[None, :], rtol=1e-5, atol=1e-6)
    got_vocab = list(model.features_)
    order = [got_vocab.index(t) for t in vocab]
    np.testing.assert_allclose(model.profiles_[0].toarray().ravel()[order], profile, rtol=1e-5)


def test_disliked_items_push_away():
    model = ContentBased(**PLAIN).fit(toy(RATINGS))
    scores = model.score(0)[0]
    assert scores[1] > 0 > scores[2]  # Star Trek (like Star Wars) up, Love Story (disliked) down


def test_flat_ratings_without_interest_count_every_item_the_same():
    model = ContentBased(**{**PLAIN, "interest": 0.0}).fit(toy(RATINGS))
    _, X = hand_tfidf()
    profile = X[0] + X[3]  # user 1 gave 4 and 4: centred weights are 0, so equal weights
    np.testing.assert_allclose(model.score(1)[0], X @ profile / np.linalg.norm(profile), rtol=1e-5, atol=1e-6)


def test_explain_names_the_shared_rare_feature_and_the_liked_item():
    model = ContentBased(**PLAIN).fit(toy(RATINGS))
    why = model.explain(0, 1)  # why Star Trek for user 0?
    assert why["features"]["feature"].iloc[0] == "title:star"
    assert why["items"]["title"].iloc[0] == "Star Wars"
    assert why["items"].set_index("title").loc["Love Story", "contribution"] < 0
    assert np.isclose(why["score"], model.score(0)[0, 1])
    assert "Star Trek" in why["text"] and "title:star" in why["text"]


def test_user_without_history_gets_a_clear_error_and_score_ratings_works():
    model = ContentBased(**PLAIN).fit(toy(RATINGS))
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
        model = ContentBased(**PLAIN).fit(data.with_ratings(dup))
    assert model.weights_[0].toarray().ravel()[2] == pytest.approx(5.0 - 5.0 + 1.0)  # latest rating: 5
    with pytest.raises(ValueError, match="encoder='bert' is not valid: it must be one of 'tfidf', 'minilm'"):
        ContentBased(encoder="bert").fit(data)
    with pytest.raises(ValueError, match="needs item metadata"):
        ContentBased().fit(replace(data, items=data.items[["item_id"]]))


def test_save_load_round_trip(tmp_path):
    model = ContentBased().fit(toy(RATINGS))
    again = ContentBased.load(model.save(tmp_path / "cb.npz"))
    np.testing.assert_array_equal(again.score([0, 1]), model.score([0, 1]))
    assert again.explain(0, 1)["features"]["feature"].iloc[0] == "title:star"
    chosen = ContentBased(**CHOSEN).fit(toy(RATINGS))  # recency-weighted profiles, year features and prior
    again = ContentBased.load(chosen.save(tmp_path / "chosen.npz"))
    np.testing.assert_array_equal(again.score([0, 1]), chosen.score([0, 1]))
    assert again.explain(0, 0)["prior"] == chosen.explain(0, 0)["prior"] != 0  # item 0 has ratings


def test_recovers_planted_clusters_better_than_popularity():
    with pytest.warns(UserWarning, match="repeat a \\(user, item\\) pair"):  # synthetic users revisit items
        split = leave_last_out(make_synthetic(n_users=150, n_items=60, seed=3))
        content = ContentBased().fit(split.train)
    ndcg = lambda m: evaluate(m, split, 10, metrics=("NDCG",))["value"].iloc[0]  # noqa: E731
    with pytest.warns(UserWarning, match="history .* repeat a \\(user, item\\) pair"):  # the test's: train + valid
        score = ndcg(content)
    assert score > ndcg(Popularity().fit(split.train)) + 0.05


# ------------------------------------------------------------------------------ recency, years, prior
def hand_features(year_weight):
    """hand_tfidf with one-hot year columns (1970, 1977, 1979, 1995) times year_weight, rows unit-norm."""
    vocab, X = hand_tfidf()
    years = [1970, 1977, 1979, 1995]
    Y = np.array([[year_weight * (y == col) for col in years] for y in (1977, 1979, 1970, 1995)])
    Z = np.hstack([X, Y])
    return vocab + [f"year:{y}" for y in years], Z / np.linalg.norm(Z, axis=1, keepdims=True)


def brute_weights(rows, n_users, interest, half_life):
    """w_uj by loops: latest row per (user, item) by (timestamp, file order), centred, decayed by age."""
    W = np.zeros((n_users, 4))
    for u in range(n_users):
        latest = {}
        for pos, (user, item, rating, t) in enumerate(rows):
            if user == u and (item not in latest or (t, pos) >= latest[item][:2]):
                latest[item] = (t, pos, rating)
        order = sorted(latest, key=lambda i: latest[i][:2])  # oldest first
        r = np.array([latest[i][2] for i in order])
        w = r - r.mean() + interest if len(r) else r
        w = w if np.any(w) else np.ones_like(w)
        for age, (item, weight) in enumerate(zip(order[::-1], w[::-1])):
            W[u, item - 10] = weight * 0.5 ** (age / half_life)
    return W


def standardised_log_users(rows, n_items=4):
    users = np.array([len({u for u, i, _, _ in rows if i == 10 + j}) for j in range(n_items)], float)
    z = np.log1p(users)
    return np.where(users > 0, (z - z.mean()) / z.std(), 0.0)  # an unrated item gets the average, 0


def test_recency_weights_by_hand():
    model = ContentBased(**{**PLAIN, "half_life": 1.0}).fit(toy(RATINGS))
    _, X = hand_tfidf()
    # user 0 rated Star Wars (5, older) then Love Story (1, latest): weights 3 * 0.5 ** 1 and -1
    profile = 1.5 * X[0] - 1.0 * X[2]
    np.testing.assert_allclose(model.score(0)[0], X @ profile / np.linalg.norm(profile), rtol=1e-5, atol=1e-6)


def test_year_features_match_hand_computation():
    model = ContentBased(**{**PLAIN, "year_weight": 0.5}).fit(toy(RATINGS))
    vocab, X = hand_features(0.5)
    got_vocab, got = dense(model)
    assert sorted(got_vocab) == sorted(vocab)
    np.testing.assert_allclose(got[:, [got_vocab.index(t) for t in vocab]], X, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_scores_match_brute_force_on_random_ratings(seed):
    rng = np.random.default_rng(seed)
    # 5 users, 12 rows: repeated pairs and tied timestamps (broken by file order) on purpose
    rows = [(int(rng.integers(5)), int(10 + rng.integers(4)), float(rng.integers(1, 6)), int(rng.integers(3)))
            for _ in range(12)]
    data = toy(rows, users=range(6))  # user 5 has no ratings
    model = ContentBased(interest=2.0, half_life=1.5, year_weight=0.7, prior=0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # repeated pairs are expected here
        model.fit(data)
    W = brute_weights(rows, 6, interest=2.0, half_life=1.5)
    np.testing.assert_allclose(model.weights_.toarray(), W, rtol=1e-5, atol=1e-6)
    vocab, X = hand_features(0.7)
    users = np.flatnonzero(np.abs(W).sum(1) > 0)
    P = W[users] @ X
    expected = P @ X.T / np.linalg.norm(P, axis=1, keepdims=True) + 0.4 * standardised_log_users(rows)
    np.testing.assert_allclose(model.score(users), expected, rtol=1e-4, atol=1e-5)


def test_defaults_are_the_chosen_settings():
    assert ContentBased().get_params() == {**CHOSEN, "encoder": "tfidf", "fields": ("title", "year", "genres"),
                                           "cache_dir": None, "device": "cpu"}


# ------------------------------------------------------------------------------ fields (the ablation)
TEXTS = {  # written out by hand, independently of item_text
    ("title", "year", "genres"): ["Star Wars (1977) — Action, Sci-Fi", "Star Trek (1979) — Sci-Fi",
                                  "Love Story (1970) — Drama, Romance", "Space Heat (1995) — Action, Sci-Fi"],
    ("title",): ["Star Wars", "Star Trek", "Love Story", "Space Heat"],
    ("genres",): ["Action, Sci-Fi", "Sci-Fi", "Drama, Romance", "Action, Sci-Fi"],
    ("title", "genres"): ["Star Wars — Action, Sci-Fi", "Star Trek — Sci-Fi", "Love Story — Drama, Romance",
                          "Space Heat — Action, Sci-Fi"],
}


@pytest.mark.parametrize("fields", list(TEXTS))
def test_item_text_and_tokens_keep_only_the_fields_asked_for(fields):
    rows = ITEMS.to_dict("records")
    assert [item_text(row, fields) for row in rows] == TEXTS[fields]
    keep = {"title": "title:", "genres": "genre:", "year": "decade:"}
    expected = [[t for t in ts if any(t.startswith(keep[f]) for f in fields)] for ts in TOKENS]
    assert [item_tokens(row, fields) for row in rows] == expected
    assert [item_text(row, list(reversed(fields))) for row in rows] == TEXTS[fields]  # order of the text is fixed
    assert item_text({"title": "Heat", "genres": ["Crime"]}, ("year", "genres")) == "Crime"  # no year: no dash


class Recording:
    """A stand-in sentence encoder: records the texts it is given, returns fixed unit vectors."""

    def __init__(self):
        self.texts = []

    def encode(self, texts, **kwargs):
        self.texts.append(list(texts))
        rng = np.random.default_rng(len(self.texts))
        v = rng.normal(size=(len(texts), 8)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("fields", list(TEXTS))
def test_minilm_encodes_the_strings_of_the_fields_asked_for(fields, tmp_path, monkeypatch):
    import reclab.models.content as content

    encoder = Recording()
    monkeypatch.setattr(content, "load_minilm", lambda device="cpu": encoder)
    ContentBased(encoder="minilm", fields=fields, cache_dir=str(tmp_path), **PLAIN).fit(toy(RATINGS))
    assert encoder.texts == [TEXTS[fields]]


def test_tfidf_of_titles_only_matches_hand_computation():
    model = ContentBased(fields=("title",), **PLAIN).fit(toy(RATINGS))
    titles = [[t for t in ts if t.startswith("title:")] for ts in TOKENS]
    vocab = sorted({t for ts in titles for t in ts})
    counts = np.array([[ts.count(t) for t in vocab] for ts in titles], float)
    X = counts * (np.log((1 + 4) / (1 + (counts > 0).sum(0))) + 1)
    assert list(model.features_) == vocab
    np.testing.assert_allclose(model.item_features_.toarray(), X / np.linalg.norm(X, axis=1, keepdims=True), rtol=1e-6)
    assert ContentBased(**PLAIN).fit(toy(RATINGS)).item_features_.shape[1] > len(vocab)  # the default reads more


def test_fields_survive_save_and_load(tmp_path):
    model = ContentBased(fields=("title", "genres")).fit(toy(RATINGS))
    again = ContentBased.load(model.save(tmp_path / "fields.npz"))
    assert list(again.fields) == ["title", "genres"]
    np.testing.assert_array_equal(again.score([0, 1]), model.score([0, 1]))


@pytest.mark.parametrize("fields", [(), ("plot",), "title", ("title", "title"), ("title", 3)])
def test_bad_fields_name_the_argument_and_the_choices(fields):
    rule = "a non-empty list or tuple of distinct names among 'title', 'year', 'genres'"
    with pytest.raises(ValueError, match=re.escape(f"fields={fields!r} is not valid: it must be {rule}.")):
        ContentBased(fields=fields).fit(toy(RATINGS))
    with pytest.raises(ValueError, match="fields="):
        item_text(ITEMS.iloc[0], fields)


def test_fields_missing_from_the_items_are_named():
    with pytest.raises(ValueError, match="none of the columns title .*pass fields="):
        ContentBased(fields=("title",)).fit(replace(toy(RATINGS), items=ITEMS[["item_id", "genres"]]))


def test_chosen_settings_by_hand_and_prior_explained():
    model = ContentBased(**CHOSEN).fit(toy(RATINGS))
    _, X = hand_features(0.5)
    profile = 5 * 0.5 ** (1 / 3) * X[0] + 1 * X[2]  # user 0: mean 3, weights 5 (older, decayed) and 1
    prior = 0.3 * standardised_log_users(RATINGS)
    expected = X @ profile / np.linalg.norm(profile) + prior
    np.testing.assert_allclose(model.score(0)[0], expected, rtol=1e-5, atol=1e-6)
    why = model.explain(0, 1, n=100)
    assert why["prior"] == pytest.approx(prior[1], abs=1e-6)
    assert why["score"] == pytest.approx(why["cosine"] + why["prior"], abs=1e-6)
    assert why["features"]["contribution"].sum() == pytest.approx(why["cosine"], abs=1e-5)
    assert why["items"]["contribution"].sum() == pytest.approx(why["cosine"], abs=1e-5)
    assert "popularity prior" in why["text"]


def test_score_ratings_takes_dict_order_as_time_order():
    model = ContentBased(**CHOSEN).fit(toy(RATINGS))
    np.testing.assert_allclose(model.score_ratings({0: 5.0, 2: 1.0}), model.score(0)[0], rtol=1e-5, atol=1e-6)
    _, X = hand_features(0.5)
    profile = 1 * 0.5 ** (1 / 3) * X[2] + 5 * X[0]  # Love Story first, Star Wars latest
    expected = X @ profile / np.linalg.norm(profile) + 0.3 * standardised_log_users(RATINGS)
    np.testing.assert_allclose(model.score_ratings({2: 1.0, 0: 5.0}), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("option, value", [("half_life", 0), ("half_life", -2.0), ("year_weight", -0.5),
                                           ("prior", float("nan")), ("interest", "high"), ("half_life", True)])
def test_bad_options_name_the_argument(option, value):
    with pytest.raises(ValueError, match=f"{option}={value!r} is not valid: it must be"):
        ContentBased(**{option: value}).fit(toy(RATINGS))


def test_numpy_numbers_are_accepted():
    a = ContentBased(interest=np.int64(2), half_life=np.float32(2.0), year_weight=np.float64(0.5), prior=np.int32(0))
    b = ContentBased(interest=2.0, half_life=2.0, year_weight=0.5, prior=0.0)
    np.testing.assert_allclose(a.fit(toy(RATINGS)).score([0, 1]), b.fit(toy(RATINGS)).score([0, 1]), rtol=1e-6)


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
    from reclab.models.content import _load_minilm

    before = dict(os.environ)
    _load_minilm.cache_clear()  # load afresh: the offline switches are set only during the load
    again = load_minilm()
    assert dict(os.environ) == before
    assert again is not minilm and type(again) is type(minilm)
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
    model = ContentBased(encoder="minilm", cache_dir=str(tmp_path), **PLAIN).fit(toy(RATINGS))
    texts = [item_text(row) for row in ITEMS.to_dict("records")]
    assert texts[0] == "Star Wars (1977) — Action, Sci-Fi"
    X = minilm.encode(texts, normalize_embeddings=True)
    profile = 3 * X[0] - 1 * X[2]
    np.testing.assert_allclose(model.score(0)[0], X @ profile / np.linalg.norm(profile), atol=1e-4)
    assert model.similar_items(0, k=1)[0][0] == 1  # Star Wars is closest to Star Trek
    assert model.explain(0, 1)["features"].empty and model.explain(0, 1)["items"]["item"].iloc[0] == 0


def test_notebook_02_exercises_accept_hand_answers(capsys):
    import reclab.exercises.content  # noqa: F401  (registers the exercises)
    from reclab.exercises import check

    data = toy(RATINGS)
    vocab, X = hand_tfidf()
    check("02-idf", np.log(5 / 4) + 1, data, "genre:Sci-Fi")  # 3 of 4 items are Sci-Fi
    check("02-cosine", X[0] @ X[1], data, 0, 1)
    check("02-top-profile-feature", vocab[int(np.argmax(3 * X[0] - X[2]))], data, 0)
    check("02-new-user", ..., data, {0: 5.0})
    out = capsys.readouterr().out.splitlines()
    assert [line[0] for line in out] == ["✅", "✅", "✅", "⬜"], out


def test_unrated_items_get_the_average_prior_not_the_lowest():
    model = ContentBased(**CHOSEN).fit(toy(RATINGS))
    counts = np.zeros(model.n_items_)
    for _, item_id, _, _ in RATINGS:
        counts[item_id - 10] += 1  # one rating per (user, item) here
    z = np.log1p(counts)
    z = (z - z.mean()) / z.std()  # standardised over the whole catalogue, by hand
    assert counts[1] == 0 and model.popularity_[1] == 0.0 > z[1]  # Star Trek: nobody rated it
    np.testing.assert_allclose(model.popularity_[counts > 0], z[counts > 0], rtol=1e-5)


# ------------------------------------------------------------------------------ profiles from the history given
def test_profiles_come_from_the_history_given_the_rest_from_train():
    train = toy(RATINGS)
    model = ContentBased(**PLAIN).fit(train)
    history = train.then(toy([(0, 13, 5.0, 3)]))  # one more event for user 0: Space Heat, 5 stars
    _, X = hand_tfidf()
    # user 0 in the history: ratings 5, 1, 5, mean 11/3, weights r - 11/3 + 1
    profile = (5 - 11 / 3 + 1) * X[0] + (1 - 11 / 3 + 1) * X[2] + (5 - 11 / 3 + 1) * X[3]
    np.testing.assert_allclose(model.score(0, history=history)[0], X @ profile / np.linalg.norm(profile),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.score(0)[0], X @ (3 * X[0] - X[2]) / np.linalg.norm(3 * X[0] - X[2]),
                               rtol=1e-5, atol=1e-6)  # the default history is still train
    np.testing.assert_array_equal(model.score(1, history=history), model.score(1))  # user 1 did nothing new
    assert 3 not in model.recommend(0, k=2, history=history)[0]  # the new item is masked
    assert model.recommend(0, k=2)[0].tolist() == [1, 3]  # from train alone it is recommended


def test_recency_and_prior_with_one_new_event():
    train = toy(RATINGS)
    model = ContentBased(**CHOSEN).fit(train)
    history = train.then(toy([(0, 13, 5.0, 3)]))
    _, X = hand_features(0.5)
    # time order 5, 1, 5 (mean 11/3), interest 3, ages 2, 1, 0 with half-life 3
    w = np.array([5, 1, 5]) - 11 / 3 + 3
    profile = w[0] * 0.5 ** (2 / 3) * X[0] + w[1] * 0.5 ** (1 / 3) * X[2] + w[2] * X[3]
    prior = 0.3 * standardised_log_users(RATINGS)  # training users only, whatever the history
    np.testing.assert_allclose(model.score(0, history=history)[0], X @ profile / np.linalg.norm(profile) + prior,
                               rtol=1e-5, atol=1e-6)
    why = model.explain(0, 1, n=100, history=history)
    assert why["score"] == pytest.approx(model.score(0, history=history)[0, 1], abs=1e-6)
    assert why["items"]["contribution"].sum() == pytest.approx(why["cosine"], abs=1e-5)
    assert sorted(why["items"]["title"]) == ["Love Story", "Space Heat", "Star Wars"]  # the history's items


def test_a_user_without_training_ratings_is_scored_from_the_history():
    train = toy(RATINGS)
    model = ContentBased(**PLAIN).fit(train)
    history = train.then(toy([(2, 11, 4.0, 5)]))  # user 2, new: one rating (Star Trek)
    _, X = hand_tfidf()
    np.testing.assert_allclose(model.score(2, history=history)[0], X @ X[1], rtol=1e-5, atol=1e-6)  # weight 1
    np.testing.assert_allclose(model.score(2, history=history)[0], model.score_ratings({1: 4.0}), rtol=1e-6)
    with pytest.raises(ValueError, match="user 2 .*no ratings in the history given"):
        model.score(2, history=train.with_ratings(train.ratings, name="other"))


def test_fit_with_valid_learns_from_train_only():
    train, valid = toy(RATINGS), toy([(0, 13, 5.0, 3)])
    with_valid = ContentBased(**CHOSEN).fit(train, valid=valid)
    alone = ContentBased(**CHOSEN).fit(train)
    np.testing.assert_array_equal(with_valid.score([0, 1]), alone.score([0, 1]))  # valid is not a history any more
    np.testing.assert_array_equal(with_valid.popularity_, alone.popularity_)
    assert with_valid.seen_[0, 3] == 0


def test_nan_rating_in_a_history_is_named():
    model = ContentBased(**PLAIN).fit(toy(RATINGS))
    extra = toy([(0, 13, 4.0, 3)])  # Interactions refuses NaN itself, so put it in afterwards
    history = toy(RATINGS).then(extra.with_ratings(extra.ratings.assign(rating=np.nan)))
    with pytest.raises(ValueError, match="history \\(interactions\\) has 1 NaN rating"):
        model.score(0, history=history)


def test_repeated_pairs_in_a_history_warn_once_with_the_count():
    model = ContentBased(**PLAIN).fit(toy(RATINGS))
    history = toy(RATINGS).then(toy([(0, 10, 1.0, 7), (1, 13, 5.0, 8)]))  # both repeat a training pair
    with pytest.warns(UserWarning, match="history \\(interactions\\) has 2 row\\(s\\) that repeat"):
        scores = model.score([0, 1], history=history)
    _, X = hand_tfidf()
    profile = (1 - 1 + 1) * X[0] + (1 - 1 + 1) * X[2]  # user 0: the latest Star Wars rating is 1 now
    np.testing.assert_allclose(scores[0], X @ profile / np.linalg.norm(profile), rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # built once per history: no second warning
        model.score([0, 1], history=history)
