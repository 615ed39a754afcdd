"""fit(train, valid): history models learn from train and score from train + valid (reclab.models.base)."""
import numpy as np
import pandas as pd
import pytest

from reclab import evaluate
from reclab.data import leave_last_out, make_synthetic
from reclab.models import EASE, ItemKNN, MarkovChain, UserKNN
from reclab.models.base import train_then_valid


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=120, n_items=60, seed=3))


def known_binary(split):
    """Train + valid as a dense 0/1 matrix, built by hand from the rating frames."""
    X = np.zeros((split.train.n_users, split.train.n_items))
    for part in (split.train, split.valid):
        X[part.ratings["user"], part.ratings["item"]] = 1.0
    return X


def test_ease_applies_the_train_weights_to_the_known_rows(split):
    alone, with_valid = EASE(reg=10.0).fit(split.train), EASE(reg=10.0).fit(split.train, split.valid)
    np.testing.assert_array_equal(alone.B_, with_valid.B_)  # B is learned from train only
    users = np.arange(split.train.n_users)
    np.testing.assert_allclose(with_valid.score(users), known_binary(split) @ alone.B_, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_knn_similarities_from_train_scores_from_the_known_rows(cls, split):
    alone, with_valid = cls().fit(split.train), cls().fit(split.train, split.valid)
    assert (alone.sim_ != with_valid.sim_).nnz == 0
    X, S = known_binary(split), alone.sim_.toarray()
    users = np.arange(split.train.n_users)
    want = X @ S.T if cls is ItemKNN else S @ X
    np.testing.assert_allclose(with_valid.score(users), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [EASE, ItemKNN, UserKNN, MarkovChain])
def test_recommend_excludes_the_validation_items_too(cls, split):
    model = cls().fit(split.train, split.valid)
    r = split.valid.ratings
    items, _ = model.recommend(r["user"].to_numpy(), k=10)
    assert not (items == r["item"].to_numpy()[:, None]).any()


def test_the_validation_item_helps_on_test_for_a_sequential_signal():
    # make_synthetic plants a Markov chain: knowing the validation (latest) item should help on test
    split = leave_last_out(make_synthetic(n_users=300, n_items=80, p_follow=0.8, seed=0))
    ndcg = {name: evaluate(ItemKNN().fit(*parts), split, 10, metrics=("NDCG",))["value"].iloc[0]
            for name, parts in {"train": (split.train,), "train+valid": (split.train, split.valid)}.items()}
    assert ndcg["train+valid"] > ndcg["train"], ndcg


def test_train_then_valid_needs_parts_of_one_split(split):
    other = leave_last_out(make_synthetic(n_users=50, n_items=60, seed=1))
    with pytest.raises(ValueError, match="same split"):
        EASE().fit(split.train, other.valid)
    with pytest.raises(TypeError, match="valid must be an Interactions"):
        train_then_valid(split.train, pd.DataFrame())
    both = train_then_valid(split.train, split.valid)
    assert len(both) == len(split.train) + len(split.valid)
