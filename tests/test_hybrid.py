"""Hybrid: weighted and switching combinations checked by hand, the history passed to every component,
cold start, feature users, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import EASE, ContentBased, Hybrid, NotFittedError, Popularity, Recommender
from reclab.models.hybrid import add_feature_users, cold_item_split, normalize_scores


class Fixed(Recommender):
    """Scores from a fixed table, so the hybrid's arithmetic can be checked by hand."""

    def __init__(self, *, table=None):
        self.table = table

    def _fit(self, train, valid):
        self.fits_ = getattr(self, "fits_", 0) + 1
        self.valid_ = valid

    def _score(self, users, history):
        self.histories_ = getattr(self, "histories_", []) + [history]
        return np.asarray(self.table)[users]


class Counts(Recommender):
    """Scores = how often the user rated each item in the history: shows which history was used."""

    def _fit(self, train, valid):
        pass

    def _score(self, users, history):
        return history.to_csr("binary")[users].toarray() * 10 + np.arange(history.n_items)


ITEMS = pd.DataFrame({
    "item_id": [0, 1, 2, 3, 4],
    "title": ["Star Wars", "Star Trek", "Love Story", "Space Heat", "Star Dust"],
    "year": pd.array([1977, 1979, 1970, 1995, 1978], dtype="Int64"),
    "genres": [["Action", "Sci-Fi"], ["Sci-Fi"], ["Drama", "Romance"], ["Action", "Sci-Fi"], ["Sci-Fi"]],
})


@pytest.fixture
def data():
    """4 users (user 3 has no ratings), 5 items (item 4, "Star Dust", has none: a cold item)."""
    rows = [(0, 0, 5.0, 1), (0, 2, 1.0, 2), (1, 0, 4.0, 1), (1, 1, 5.0, 2), (1, 3, 2.0, 3), (2, 2, 4.0, 1)]
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return Interactions.from_frames(ratings, ITEMS, pd.DataFrame({"user_id": [0, 1, 2, 3]}))


def zscore(row):
    row = np.asarray(row, float)
    return (row - row.mean()) / row.std() if row.std() > 0 else np.zeros_like(row)


def test_normalize_scores_by_hand():
    s = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]])
    np.testing.assert_allclose(normalize_scores(s, "minmax"), [[0, 1 / 3, 1], [0, 0, 0]])
    np.testing.assert_allclose(normalize_scores(s, "zscore")[0], (s[0] - 7 / 3) / np.sqrt(14 / 9))
    with pytest.raises(ValueError, match="normalize='l2'"):
        normalize_scores(s, "l2")


def test_weighted_equals_hand_combined_zscores(data):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5)) * 10, rng.random((4, 5))
    hybrid = Hybrid(models=[Fixed(table=a), Fixed(table=b)], weights=[0.3, 0.7]).fit(data)
    for u in range(3):  # users with history
        expected = (0.3 * zscore(a[u]) + 0.7 * zscore(b[u])) / 1.0
        np.testing.assert_allclose(hybrid.score(u)[0], expected, rtol=1e-5, atol=1e-6)
    minmax = Hybrid(models=[Fixed(table=a), Fixed(table=b)], weights=[1, 3], normalize="minmax").fit(data)
    mm = lambda r: (r - r.min()) / (r.max() - r.min())  # noqa: E731
    np.testing.assert_allclose(minmax.score(1)[0], (mm(a[1]) + 3 * mm(b[1])) / 4, rtol=1e-5, atol=1e-6)


def test_cold_items_take_content_scores_and_cold_users_popularity(data):
    cf = Fixed(table=np.tile([3.0, 2.0, 1.0, 0.5, 0.0], (4, 1)))
    content = ContentBased()
    hybrid = Hybrid(models=[content, cf], weights=[0.25, 0.75]).fit(data)
    assert hybrid.cold_items_.tolist() == [False, False, False, False, True]
    z_content, z_cf = zscore(content.score(0)[0]), zscore(cf.table[0])
    expected = 0.25 * z_content + 0.75 * z_cf
    expected[4] = z_content[4]  # the unrated item: content's normalised score alone
    np.testing.assert_allclose(hybrid.score(0)[0], expected, rtol=1e-5, atol=1e-6)
    assert 4 in hybrid.recommend(0, k=2)[0]  # Star Dust resembles Star Wars, which user 0 loved
    # user 3 has no history: popularity (distinct users per item), not an error from ContentBased
    np.testing.assert_allclose(hybrid.score(3)[0], zscore([2, 1, 2, 1, 0]), rtol=1e-5)
    assert hybrid.recommend(3, k=2)[0].tolist() == [0, 2]


def test_switching_picks_the_model_by_history_length(data):
    few, many = Fixed(table=np.eye(4, 5)), Fixed(table=np.eye(4, 5)[::-1])
    hybrid = Hybrid(models=[few, many], how="switching", min_history=3).fit(data)
    # distinct training items: user 0 → 2, user 1 → 3, user 2 → 1, user 3 → 0
    assert hybrid.which_model([0, 1, 2, 3]).tolist() == [0, 1, 0, -1]
    for u, table in ((0, few.table), (1, many.table), (2, few.table)):
        np.testing.assert_allclose(hybrid.score(u)[0], zscore(table[u]), atol=1e-6)
    np.testing.assert_allclose(hybrid.score(3)[0], zscore([2, 1, 2, 1, 0]), atol=1e-6)
    with pytest.raises(ValueError, match="which_model is for how='switching'"):
        Hybrid(models=[few]).fit(data).which_model(0)


def test_fit_fits_every_component_unless_refit_false(data):
    a, b = Fixed(table=np.ones((4, 5))), Fixed(table=np.ones((4, 5)))
    valid = data.with_ratings(data.ratings.iloc[:1])
    Hybrid(models=[a, b]).fit(data, valid=valid)
    assert a.fits_ == b.fits_ == 1 and a.valid_ is valid  # valid reaches the components (early stopping)
    Hybrid(models=[a, b], refit=False).fit(data)
    assert a.fits_ == 1
    with pytest.raises(NotFittedError, match=r"models\[0\] \(Fixed\) is not fitted on this data"):
        Hybrid(models=[Fixed(table=np.ones((4, 5)))], refit=False).fit(data)
    # fitted, but on other users: the hybrid's history would mean other people to it
    other = add_feature_users(data)
    with pytest.raises(ValueError, match=r"models\[1\] \(Fixed\) is not fitted on this data: .*10 users, 5 items"):
        Hybrid(models=[a, Fixed(table=np.ones((9, 5))).fit(other)], refit=False).fit(data)
    # another part of the same data (same ids, other ratings) is fine: the hybrid passes its history
    half = Fixed(table=np.ones((4, 5))).fit(data.with_ratings(data.ratings.iloc[:3]))
    hybrid = Hybrid(models=[half], refit=False).fit(data)
    hybrid.score(0)
    assert half.histories_[-1] is data


def test_every_component_scores_from_the_history_given(data):
    a, b = Counts(), Counts()
    hybrid = Hybrid(models=[a, b], weights=[1, 1]).fit(data)
    history = data.then(data.with_ratings(pd.DataFrame({"user": np.int32([0, 3]), "item": np.int32([4, 1]),
                                                        "rating": np.float32([5, 3]), "timestamp": np.int64([9, 9])})))
    H = np.zeros((4, 5))
    H[[0, 0, 1, 1, 1, 2, 0, 3], [0, 2, 0, 1, 3, 2, 4, 1]] = 1  # train + the two events, by hand
    for u in range(4):  # user 3 has a history now: scored by the components, not by popularity
        np.testing.assert_allclose(hybrid.score(u, history=history)[0], zscore(H[u] * 10 + np.arange(5)), atol=1e-6)
    assert hybrid.score(3)[0].tolist() == pytest.approx(zscore([2, 1, 2, 1, 0]).tolist())  # from train: popularity
    items, _ = hybrid.recommend([0, 3], k=2, history=history)
    assert not (H[[0, 3]][np.arange(2)[:, None], items] == 1).any()  # the history's items are masked
    f = Fixed(table=np.arange(20.0).reshape(4, 5))
    Hybrid(models=[f]).fit(data).score([0, 1], history=history)
    assert f.histories_[-1] is history


def test_switching_counts_the_items_of_the_history_given(data):
    few, many = Fixed(table=np.eye(4, 5)), Fixed(table=np.eye(4, 5)[::-1])
    hybrid = Hybrid(models=[few, many], how="switching", min_history=3).fit(data)
    extra = pd.DataFrame({"user": np.int32([2, 2, 3]), "item": np.int32([0, 1, 4]), "rating": np.float32(4),
                          "timestamp": np.int64([7, 8, 9])})
    history = data.then(data.with_ratings(extra))
    # distinct items in the history: user 0 → 2, user 1 → 3, user 2 → 1 + 2 = 3, user 3 → 1
    assert hybrid.which_model([0, 1, 2, 3], history=history).tolist() == [0, 1, 1, 0]
    assert hybrid.which_model([0, 1, 2, 3]).tolist() == [0, 1, 0, -1]
    np.testing.assert_allclose(hybrid.score(2, history=history)[0], zscore(many.table[2]), atol=1e-6)
    np.testing.assert_allclose(hybrid.score(3, history=history)[0], zscore(few.table[3]), atol=1e-6)


def test_recommend_never_returns_a_watched_movie_regression():
    """The reported bug: fit(train, valid=valid).recommend(users) returned validation items the user had seen."""
    split = leave_last_out(make_synthetic(n_users=120, n_items=50, seed=4))
    with pytest.warns(UserWarning, match="repeat a \\(user, item\\) pair"):  # synthetic users revisit items
        hybrid = Hybrid(models=[ContentBased(prior=0.0), EASE(reg=10.0)], weights=[0.3, 0.7])
        hybrid.fit(split.train, valid=split.valid)
        users = np.arange(split.train.n_users)
        items, _ = hybrid.recommend(users, k=10, history=split.history("test"))
    known = split.train.to_csr("binary") + split.valid.to_csr("binary")  # train + valid, by hand
    assert not any(known[u, items[u]].toarray().any() for u in users)
    items, _ = hybrid.recommend(users, k=10)
    train = split.train.to_csr("binary")
    assert not any(train[u, items[u]].toarray().any() for u in users)
    valid_item = split.valid.ratings.set_index("user")["item"]
    assert sum(valid_item[u] in items[u] for u in valid_item.index) > 0  # from train alone it may be recommended


def test_bad_parameters_and_input(data):
    one = Fixed(table=np.ones((4, 5)))
    cases = [
        (dict(models=[one], how="mixed"), "how='mixed' is not valid: it must be one of 'weighted', 'switching'"),
        (dict(models=[one], normalize="l2"), "normalize='l2' is not valid: it must be one of 'zscore', 'minmax'"),
        (dict(models=[]), "non-empty list"),
        (dict(models=[one, one], weights=[1.0]), "must be 2 finite non-negative"),
        (dict(models=[one, one], weights=[1.0, -1.0]), "must be 2 finite"),
        (dict(models=[one, one], weights=["a", "b"]), "weights=\\['a', 'b'\\] is not valid"),
        (dict(models=[one], how="switching"), "exactly 2 models"),
        (dict(models=[one, one], how="switching", min_history=0), "min_history=0 is not valid: it must be an int >= 1"),
        (dict(models=[one], refit="no"), "refit='no' is not valid: it must be True or False"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            Hybrid(**kwargs).fit(data)
    with pytest.raises(ValueError, match="no interactions"):
        Hybrid(models=[one]).fit(data.with_ratings(data.ratings.iloc[:0]))
    nan = data.ratings.copy()
    nan.loc[0, "rating"] = np.nan
    with pytest.raises(ValueError, match="1 NaN rating"):  # the content component refuses, loudly
        Hybrid(models=[ContentBased(), one]).fit(data.with_ratings(nan))
    with pytest.raises(ValueError, match="non-finite"):
        Hybrid(models=[Fixed(table=np.full((4, 5), np.nan))]).fit(data).score(0)
    with pytest.raises(NotImplementedError, match="save each of"):
        Hybrid(models=[one]).fit(data).save("x.npz")


def test_add_feature_users_appends_one_user_per_genre_and_decade(data):
    augmented = add_feature_users(data)
    names = ["decade:1970s", "decade:1990s", "genre:Action", "genre:Drama", "genre:Romance", "genre:Sci-Fi"]
    assert augmented.n_users == data.n_users + len(names) and augmented.n_items == data.n_items
    assert list(augmented.user_ids[data.n_users:]) == names
    pd.testing.assert_frame_equal(augmented.ratings.iloc[: len(data)], data.ratings)
    scifi = augmented.ratings[augmented.ratings["user"] == data.n_users + names.index("genre:Sci-Fi")]
    assert sorted(scifi["item"]) == [0, 1, 3, 4] and (scifi["rating"] == 5.0).all()
    # the cold item is no longer an empty column: popularity now sees its two features
    assert Popularity().fit(augmented).counts_[4] == 2


def test_cold_item_split_removes_history_of_chosen_items():
    split = leave_last_out(make_synthetic(n_users=120, n_items=60, seed=1))
    cold = cold_item_split(split, frac=0.3, seed=0)
    chosen = set(cold.test.ratings["item"])
    assert chosen and chosen <= set(split.test.ratings["item"])
    assert not chosen & set(cold.train.ratings["item"]) and not chosen & set(cold.valid.ratings["item"])
    assert len(chosen) == round(0.3 * split.test.ratings["item"].nunique())
    with pytest.raises(ValueError, match="frac=0"):
        cold_item_split(split, frac=0)


def test_hybrid_beats_popularity_on_planted_clusters():
    with pytest.warns(UserWarning, match="repeat a \\(user, item\\) pair"):
        split = leave_last_out(make_synthetic(n_users=150, n_items=60, seed=3))
        hybrid = Hybrid(models=[ContentBased(), Popularity()], weights=[0.7, 0.3]).fit(split.train)
        ndcg = lambda m: evaluate(m, split, 10, metrics=("NDCG",))["value"].iloc[0]  # noqa: E731
        score = ndcg(hybrid)  # the content part warns about the test's history (train + valid) too
    assert score > ndcg(Popularity().fit(split.train)) + 0.05


def test_notebook_05_exercises_accept_hand_answers(data, capsys):
    import reclab.exercises.hybrid  # noqa: F401  (registers the exercises)
    from reclab.exercises import check

    table = np.arange(20.0).reshape(4, 5) ** 2
    model = Fixed(table=table).fit(data)
    check("05-zscore", zscore(table[1])[3], model, 1, 3)
    check("05-switch-share", 2 / 3, data, 3)  # histories 2, 3, 1 (and 0, not counted)
    check("05-feature-users", 6, data)  # 4 genres + 2 decades
    check("05-weighted-top", ..., data, model, model, 0.5, 0)
    out = capsys.readouterr().out.splitlines()
    assert [line[0] for line in out] == ["✅", "✅", "✅", "⬜"], out


def test_weighted_top_exercise_is_the_plain_minmax_sum(data, capsys):
    import reclab.exercises.hybrid  # noqa: F401  (registers the exercises)
    from reclab.exercises import check

    rng = np.random.default_rng(0)
    a, b = Fixed(table=rng.random((4, 5))).fit(data), Fixed(table=rng.random((4, 5)) * 100).fit(data)
    user = 2
    sa, sb = a.score([user])[0].astype(float), b.score([user])[0].astype(float)
    mix = 0.3 * (sa - sa.min()) / np.ptp(sa) + 0.7 * (sb - sb.min()) / np.ptp(sb)  # by hand
    mix[data.to_csr("binary")[user].indices] = -np.inf
    check("05-weighted-top", np.argsort(-mix, kind="stable")[:3], data, a, b, 0.3, user, 3)
    assert capsys.readouterr().out.startswith("✅")


def test_feature_users_scores_real_users_as_the_inner_model_on_augmented_data():
    from reclab import evaluate
    from reclab.models import EASE, FeatureUsers
    from reclab.models.hybrid import add_feature_users

    data = make_synthetic(n_users=80, n_items=40, seed=6)
    split = leave_last_out(data)
    wrapped = FeatureUsers(model=EASE(reg=10.0)).fit(split.train)
    # by hand: EASE on train + pseudo-users, applied to the real users' rows of the given history
    augmented = add_feature_users(split.train)
    reference = EASE(reg=10.0).fit(augmented)
    pseudo = augmented.ratings.iloc[len(split.train.ratings):]
    history = augmented.with_ratings(pd.concat([split.history("test").ratings, pseudo], ignore_index=True))
    X = history.to_csr("binary").toarray()
    users = np.arange(split.train.n_users)
    np.testing.assert_allclose(wrapped.score(users, history=split.history("test")), X[users] @ reference.B_,
                               rtol=1e-5, atol=1e-5)
    assert wrapped.n_pseudo_users_ == augmented.n_users - split.train.n_users > 0
    plain = evaluate(EASE(reg=10.0).fit(split.train), split, 10, metrics=("NDCG",))
    assert evaluate(wrapped, split, 10, metrics=("NDCG",))["n_users"].item() == plain["n_users"].item()
