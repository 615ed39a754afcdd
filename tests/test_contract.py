"""The scoring contract: fit learns from train; score/recommend read the history they are given.

Checked against matrices built by hand from the rating frames, a recording stand-in model, and
brute-force loops (reclab.models.base, reclab.data.Split.history, reclab.evaluate).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reclab import Evaluator, evaluate
from reclab import metrics as M
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import EASE, ItemKNN, Popularity, Recommender
from reclab.models.base import Bool, Choice, Int, Real, changed_users
from reclab.train import validation_ndcg


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=120, n_items=60, seed=3))


def binary(*parts):
    """The 0/1 matrix of the given parts, built by hand from their rating frames."""
    X = np.zeros((parts[0].n_users, parts[0].n_items))
    for part in parts:
        X[part.ratings["user"], part.ratings["item"]] = 1.0
    return X


# ------------------------------------------------------------------------------- Split.history
def test_history_is_what_is_known_before_each_part(split):
    assert split.history("valid") is split.train
    test = split.history("test")
    assert test is split.history("test")  # one object: models cache what they derive from it
    assert len(test) == len(split.train) + len(split.valid)
    np.testing.assert_array_equal(test.to_csr("binary").toarray(), binary(split.train, split.valid))
    # the validation item is each user's latest known item, even at an equal timestamp
    last = [seq[-1] for seq in test.sequences() if len(seq)]
    valid_items = split.valid.ratings.sort_values("user")["item"].tolist()
    assert [s[-1] for s, v in zip(test.sequences(), split.valid.sequences()) if len(v)] == valid_items
    assert len(last) == split.train.n_users
    with pytest.raises(ValueError, match="part='train' has no history"):
        split.history("train")


# ------------------------------------------------------------------------------- score / recommend
def test_one_fit_scores_from_any_history(split):
    plain, with_valid = EASE(reg=10.0).fit(split.train), EASE(reg=10.0).fit(split.train, valid=split.valid)
    np.testing.assert_array_equal(plain.B_, with_valid.B_)  # valid does not change what is learned
    users = np.arange(split.train.n_users)
    np.testing.assert_allclose(plain.score(users), binary(split.train) @ plain.B_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(with_valid.score(users), binary(split.train) @ plain.B_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(plain.score(users, history=split.history("test")),
                               binary(split.train, split.valid) @ plain.B_, rtol=1e-5, atol=1e-5)


def test_recommend_masks_the_history_it_is_given(split):
    model = Popularity().fit(split.train)
    users = split.valid.ratings["user"].to_numpy()
    valid_items = split.valid.ratings["item"].to_numpy()
    test_history = binary(split.train, split.valid)
    items, _ = model.recommend(users, k=10, history=split.history("test"))
    assert not any(test_history[u, i] for u, row in zip(users, items) for i in row)
    train_only = binary(split.train)
    items, _ = model.recommend(users, k=20)  # default history: train; the validation items may come back
    assert not any(train_only[u, i] for u, row in zip(users, items) for i in row)
    assert (items == valid_items[:, None]).any()


def test_a_new_event_changes_the_list_without_refitting(split):
    model = EASE(reg=10.0).fit(split.train)
    user, item = 0, int(np.argmax(binary(split.train)[0] == 0))
    event = pd.DataFrame({"user": np.int32([user]), "item": np.int32([item]), "rating": np.float32([5.0]),
                          "timestamp": np.int64([split.train.ratings["timestamp"].max() + 1])})
    history = split.train.with_ratings(pd.concat([split.train.ratings, event], ignore_index=True))
    X = binary(split.train)
    X[user, item] = 1
    np.testing.assert_allclose(model.score([user], history=history)[0], X[user] @ model.B_, rtol=1e-5, atol=1e-5)
    items, _ = model.recommend(user, k=model.n_items_ - int(X[user].sum()), history=history)
    assert item not in items


def test_a_history_on_other_ids_is_refused(split):
    model = EASE().fit(split.train)
    other = leave_last_out(make_synthetic(n_users=50, n_items=60, seed=1))
    with pytest.raises(ValueError, match=r"history has 50 users.*split\.history\(part\)"):
        model.score([0], history=other.train)
    with pytest.raises(TypeError, match="history must be an Interactions"):
        model.recommend([0], history=split.train.ratings)


def test_a_wrong_shaped_model_output_is_refused_not_reshaped(split):
    class Transposed(Recommender):
        def _fit(self, train, valid):
            pass

        def _score(self, users, history):
            return np.zeros((self.n_items_, len(users)))  # a bug: (items, users)

    model = Transposed().fit(split.train)
    with pytest.raises(RuntimeError, match=r"_score returned an array of shape \(60, 3\) for 3 users"):
        model.score([0, 1, 2])


def test_changed_users_against_brute_force(split):
    history = split.history("test")
    brute = [u for u in range(split.train.n_users)
             if (binary(split.train)[u] != binary(split.train, split.valid)[u]).any()]
    assert changed_users(split.train, history).tolist() == brute
    assert changed_users(split.train, split.train).tolist() == []


def test_save_load_keeps_the_default_history(split, tmp_path):
    model = EASE(reg=10.0).fit(split.train)
    loaded = EASE.load(model.save(tmp_path / "ease.npz"))
    users = np.arange(split.train.n_users)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    np.testing.assert_array_equal(loaded.score(users, history=split.history("test")),
                                  model.score(users, history=split.history("test")))
    pd.testing.assert_frame_equal(loaded.train_.ratings, split.train.ratings)


def test_string_ids_survive_save_and_load(tmp_path):
    ratings = pd.DataFrame({"user_id": ["ann", "bob", "ann", "cy"], "item_id": ["x", "y", "y", "x"],
                            "rating": 1.0, "timestamp": [1, 2, 3, 4]})
    data = Interactions.from_frames(ratings)
    loaded = Popularity.load(Popularity().fit(data).save(tmp_path / "p.npz"))
    assert loaded.train_.user_ids.tolist() == ["ann", "bob", "cy"]
    assert loaded.train_.item_ids.tolist() == ["x", "y"]


# ------------------------------------------------------------------------------- evaluate
class Recording:
    """Scores like a fixed matrix and remembers the histories it was given."""

    def __init__(self, scores):
        self.scores, self.histories = scores, []

    def score(self, users, *, history=None):
        self.histories.append(history)
        return self.scores[users]


def test_evaluate_passes_the_history_of_the_part(split):
    model = Recording(np.random.default_rng(0).random((split.train.n_users, split.train.n_items)))
    evaluate(model, split, 10, part="valid", metrics=("HR",))
    assert all(h is split.train for h in model.histories)
    model.histories.clear()
    evaluate(model, split, 10, part="test", metrics=("HR",))
    assert all(h is split.history("test") for h in model.histories)


def test_valid_cannot_leak_into_its_own_evaluation(split):
    # fitted with valid or not, the validation score is the same: valid never joins the history
    plain = evaluate(EASE().fit(split.train), split, 10, part="valid")
    with_valid = evaluate(EASE().fit(split.train, valid=split.valid), split, 10, part="valid")
    pd.testing.assert_frame_equal(plain, with_valid)


def test_knowing_the_validation_item_helps_on_test_for_a_sequential_signal():
    # make_synthetic plants a Markov chain: the latest item (the validation one) predicts the test item
    split = leave_last_out(make_synthetic(n_users=300, n_items=80, p_follow=0.8, seed=0))
    model = ItemKNN().fit(split.train)

    class TrainOnly:
        def score(self, users):
            return model.score(users)  # ignores the history evaluate passes: train alone

    with_valid = evaluate(model, split, 10, metrics=("NDCG",))["value"].item()
    without = evaluate(TrainOnly(), split, 10, metrics=("NDCG",))["value"].item()
    assert with_valid > without + 0.02, (with_valid, without)


def test_the_validation_metric_of_training_is_evaluate_on_valid(split):
    model = EASE(reg=10.0).fit(split.train)
    want = evaluate(model, split, 10, part="valid", metrics=("NDCG",))["value"].item()
    evaluator = Evaluator(split.train, split.valid, k=10, metrics=("NDCG",))
    assert evaluator(model) == pytest.approx(want, abs=1e-12)
    assert validation_ndcg(model, split.train, split.valid) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_metrics_read_off_one_hit_matrix_equal_the_public_functions(k):
    rng = np.random.default_rng(k)
    topk = np.stack([rng.permutation(30)[:12] for _ in range(40)])
    relevant = [rng.choice(30, size=rng.integers(0, 4), replace=False) for _ in range(40)]
    _, hits, n_rel = M._hits(topk, relevant, 12)
    public = {"HR": M.hit_rate_at_k, "NDCG": M.ndcg_at_k, "MRR": M.mrr_at_k, "MAP": M.map_at_k,
              "Precision": M.precision_at_k, "Recall": M.recall_at_k}
    for name, fn in public.items():
        np.testing.assert_array_equal(M.FROM_HITS[name](hits[:, :k], n_rel, k), fn(topk, relevant, k))


# ------------------------------------------------------------------------------- parameter rules
@pytest.mark.parametrize("rule, good, bad, message", [
    (Int(1), [1, np.int64(7)], [0, 1.5, True, "3", np.nan], "an int >= 1"),
    (Int(0, none=True), [None, 0, np.int32(2)], [-1, 2.0], "an int >= 0, or None"),
    (Real(0, low_open=True), [1e-9, 3, np.float32(0.5)], [0, -1, np.inf, np.nan, False], "a finite number > 0"),
    (Real(0, 1, high_open=True), [0, 0.99], [1, 1.5], r"a finite number in \[0, 1\)"),
    (Choice("users", "ratings"), ["users"], ["Users", 1, None], "one of 'users', 'ratings'"),
    (Bool(), [True, np.bool_(False)], [1, "yes"], "True or False"),
])
def test_parameter_rules(rule, good, bad, message):
    for value in good:
        rule.check("x", value)
    for value in bad:
        with pytest.raises(ValueError, match=rf"x={value!r} is not valid: it must be {message}"):
            rule.check("x", value)


def test_what_is_derived_from_a_history_follows_a_parameter_change(split):
    from reclab.models import BPR

    model = BPR(n_factors=4, n_epochs=2, fold_in_epochs=0, device="cpu").fit(split.train)
    history = split.history("test")
    user = int(changed_users(split.train, history)[0])
    unchanged = model.score([user], history=history)
    np.testing.assert_array_equal(unchanged, model.score([user]))  # no fold-in epochs: the learned vector
    model.fold_in_epochs = 5
    assert not np.array_equal(model.score([user], history=history), unchanged)  # not the cached 0-epoch result
