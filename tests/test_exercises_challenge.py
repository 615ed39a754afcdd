"""Challenges: the checker refits the learner's model on train, judges it on validation only, never raises."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import reclab.evaluation
from reclab import evaluate
from reclab.data import leave_last_out, load_movielens, make_synthetic
from reclab.exercises import EXERCISES
from reclab.exercises.challenge import Challenge, fresh_copy
from reclab.models import EASE, ALS, ContentBased, Hybrid, ItemKNN, Popularity, Random, UserKNN


@pytest.fixture(scope="module")
def split():
    data = make_synthetic(n_users=150, n_items=50, seed=5)
    once = data.ratings.drop_duplicates(["user", "item"])  # no repeats: the hand count below masks every seen item
    return leave_last_out(data.with_ratings(once))


def random_start():
    return Random(seed=0)


CLUSTERS = Challenge("xx-beat-random", "Beat random on validation by 0.05.", start=random_start, margin=0.05,
                     allowed=(ItemKNN, UserKNN, Random))


def printed_number(message: str) -> float:
    return float(message.split("validation NDCG@10 ")[1].split(";")[0])


def hand_valid_ndcg(model, split) -> float:
    """Validation NDCG@10 by hand: the rank of each user's validation item among the unseen items."""
    model.fit(split.train)
    seen = split.train.binary()
    total = 0.0
    rows = split.valid.ratings
    for user, item in zip(rows["user"], rows["item"]):
        scores = model.score([user])[0].astype(float)
        scores[seen[user].indices] = -np.inf
        rank = int((scores > scores[item]).sum() + ((scores == scores[item]) & (np.arange(len(scores)) < item)).sum())
        total += 1.0 / np.log2(rank + 2) if rank < 10 else 0.0
    return total / len(rows)


def test_planted_structure_passes_and_the_start_fails(split):
    good = CLUSTERS.evaluate(ItemKNN(), split)
    assert good.ok, good.message
    assert not CLUSTERS.evaluate(Random(seed=0), split).ok  # the start cannot beat itself by the margin


def test_the_printed_score_is_validation_ndcg_of_a_fit_on_train(split):
    message = CLUSTERS.evaluate(UserKNN(k_neighbours=10), split).message
    assert printed_number(message) == pytest.approx(hand_valid_ndcg(UserKNN(k_neighbours=10), split), abs=1e-4)


def test_a_model_fitted_on_everything_is_refitted_on_train(split):
    everything = split.train.with_ratings(pd.concat([split.train.ratings, split.valid.ratings, split.test.ratings]))
    leaky = ItemKNN().fit(everything)  # it has seen the validation items: scored as is, it would look great
    clean = CLUSTERS.evaluate(ItemKNN(), split).message
    assert CLUSTERS.evaluate(leaky, split).message == clean
    as_is = evaluate(leaky, split, 10, part="valid", metrics=("NDCG",))["value"].iloc[0]
    assert as_is > printed_number(clean) + 0.01  # the leak would have paid; the refit took it away


def test_the_test_part_is_never_evaluated(split, monkeypatch):
    parts = []
    real = reclab.evaluation.evaluate

    def spy(*args, **kwargs):
        parts.append(kwargs.get("part", "test"))
        return real(*args, **kwargs)

    monkeypatch.setattr(reclab.evaluation, "evaluate", spy)
    CLUSTERS.evaluate(ItemKNN(k_neighbours=5), split)
    assert parts and set(parts) == {"valid"}


def test_a_hybrid_of_fitted_components_is_rebuilt_from_fresh_ones(split):
    everything = split.train.with_ratings(pd.concat([split.train.ratings, split.valid.ratings]))
    parts = [ContentBased(prior=0.0).fit(everything), EASE(reg=5.0).fit(everything)]
    hybrid = Hybrid(models=parts, weights=[0.3, 0.7], refit=False)
    copy = fresh_copy(hybrid)
    assert copy.refit is True and all(not hasattr(m, "n_items_") for m in copy.models)
    assert all(a is not b for a, b in zip(copy.models, parts))
    challenge = Challenge("xx-hybrid", "Any hybrid.", start=random_start, margin=0.0, allowed=(Hybrid,))
    fair = Hybrid(models=[ContentBased(prior=0.0), EASE(reg=5.0)], weights=[0.3, 0.7])
    assert printed_number(challenge.evaluate(hybrid, split).message) == pytest.approx(hand_valid_ndcg(fair, split),
                                                                                       abs=1e-4)


@pytest.mark.parametrize("answer, symbol, words", [
    (..., "⬜", "not attempted"),
    (None, "⬜", "not attempted"),
    (EASE(), "❌", "of type ItemKNN or UserKNN or Random"),
    (ItemKNN, "❌", "the class ItemKNN itself"),
    ("ItemKNN", "❌", "of type str"),
    (ItemKNN(similarity="bogus"), "❌", "similarity='bogus'"),
])
def test_bad_answers_print_one_line_and_never_raise(split, answer, symbol, words, capsys):
    outcome = CLUSTERS.evaluate(answer, split)
    assert outcome.message.startswith(symbol) and words in outcome.message
    CLUSTERS.check(answer, split)  # prints, does not raise
    assert capsys.readouterr().out.startswith(symbol)


def test_a_missing_split_is_reported(split):
    assert "pass the notebook's split" in CLUSTERS.evaluate(ItemKNN(), "split").message


def test_the_notebook_challenges_the_start_fails_and_the_solution_passes():
    import reclab.exercises.hybrid  # noqa: F401 — registers 05's challenge
    import reclab.exercises.mf  # noqa: F401
    import reclab.exercises.neighbourhood  # noqa: F401

    ml = leave_last_out(load_movielens("100k"))
    solutions = {"03-tune-knn": ItemKNN(similarity="jaccard"), "04-tune-als": ALS(alpha=3.0),
                 "05-tune-hybrid": Hybrid(models=[ContentBased(prior=0.0), EASE()], weights=[0.3, 0.7])}
    for name, solution in solutions.items():
        challenge = EXERCISES[name]
        assert not challenge.evaluate(challenge.start(), ml).ok, name
        assert challenge.evaluate(solution, ml).ok, name
    assert not EXERCISES["03-tune-knn"].evaluate(Popularity(), ml).ok  # not a kNN model


def test_the_graded_cell_reuses_the_judgement_of_the_same_model_and_refits_a_changed_one(split, monkeypatch):
    import reclab.exercises.challenge as challenge

    fits = []
    real = challenge.valid_ndcg
    monkeypatch.setattr(challenge, "valid_ndcg", lambda model, s, k=10: fits.append(type(model).__name__) or real(model, s, k))
    challenge._CACHE.clear()
    model = ItemKNN()
    first = CLUSTERS.evaluate(model, split)
    assert fits == ["Random", "ItemKNN"]  # the start once, the answer once
    assert CLUSTERS.evaluate(model, split) is first and fits == ["Random", "ItemKNN"]  # check, then grade: one fit
    model.k_neighbours = 3  # changed in place: judged again
    CLUSTERS.evaluate(model, split)
    CLUSTERS.evaluate(ItemKNN(), split)  # an equal but new object: judged again
    assert fits == ["Random", "ItemKNN", "ItemKNN", "ItemKNN"]


def test_grade_raises_for_a_challenge_that_falls_short(split):
    from reclab.exercises import grade, register

    register(CLUSTERS)
    with pytest.raises(AssertionError, match="not there yet"):
        grade(CLUSTERS.name, Random(seed=0), split)
    grade(CLUSTERS.name, ItemKNN(), split)
