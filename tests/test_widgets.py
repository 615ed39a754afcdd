"""The explorer's logic (plain functions, no browser) and the widgets built on it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reclab.data import Interactions
from reclab.models import ContentBased, ItemKNN, Popularity
from reclab.widgets import (cold_start, explorer, newcomer_history, rate_movies, search_titles, user_history,
                            user_panel)

ITEMS = pd.DataFrame({
    "item_id": [1, 2, 3, 4, 5, 6],
    "title": ["Star Wars", "Star Trek", "Love Story", "Space Heat", "Star Dust", "Romance Story"],
    "year": pd.array([1977, 1979, 1970, 1995, 1978, 1972], dtype="Int64"),
    "genres": [["Action", "Sci-Fi"], ["Sci-Fi"], ["Drama", "Romance"], ["Action", "Sci-Fi"], ["Sci-Fi"],
               ["Romance"]],
})


@pytest.fixture(scope="module")
def setup():
    rows = [(10, 1, 5.0, 100), (10, 3, 1.0, 300), (10, 4, 4.0, 200), (20, 1, 3.0, 50), (20, 2, 4.0, 60),
            (30, 2, 5.0, 10), (30, 1, 2.0, 10)]
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    data = Interactions.from_frames(ratings, ITEMS)
    return data, {"pop": Popularity().fit(data), "content": ContentBased().fit(data)}


def test_user_history_is_the_users_ratings_latest_first(setup):
    data, _ = setup
    history = user_history(data, 0)
    assert history["title"].tolist() == ["Love Story", "Space Heat", "Star Wars"]  # timestamps 300, 200, 100
    assert history["rating"].tolist() == [1.0, 4.0, 5.0]
    assert history["genres"].iloc[0] == "Drama, Romance" and history["year"].iloc[0] == 1970
    assert user_history(data, 2)["title"].tolist() == ["Star Wars", "Star Trek"]  # same second: later row first
    with pytest.raises(KeyError, match="user=7 is not a user index"):
        user_history(data, 7)


def test_user_panel_rows_are_each_models_top_k_unseen(setup):
    data, models = setup
    panel = user_panel(data, models, user=0, k=2)
    assert set(panel) == {"history", "pop", "content"}
    # popularity: distinct users per item = [3, 2, 1, 1, 0, 0]; user 0 has seen items 0, 2, 3
    assert panel["pop"]["title"].tolist() == ["Star Trek", "Star Dust"]
    assert panel["pop"]["score"].tolist() == [2.0, 0.0]
    # content by hand: Star Trek and Star Dust share "star" and Sci-Fi with the loved Star Wars
    assert set(panel["content"]["title"]) == {"Star Trek", "Star Dust"}
    assert list(panel["content"].columns) == ["item", "title", "year", "genres", "score"]
    with pytest.raises(ValueError, match="models is empty"):
        user_panel(data, {}, 0)


def test_user_panel_scores_and_masks_the_history_it_shows(setup):
    data, models = setup
    later = pd.DataFrame({"user": np.int32([0]), "item": np.int32([1]), "rating": np.float32([5.0]),
                          "timestamp": np.int64([400])})
    history = data.with_ratings(pd.concat([data.ratings, later], ignore_index=True))  # user 0 then rates Star Trek
    panel = user_panel(history, models, user=0, k=2)
    assert panel["history"]["title"].tolist() == ["Star Trek", "Love Story", "Space Heat", "Star Wars"]
    # popularity counts training users ([3, 2, 1, 1, 0, 0]); seen now: items 0, 1, 2, 3
    assert panel["pop"]["title"].tolist() == ["Star Dust", "Romance Story"]
    assert "Star Trek" not in panel["content"]["title"].tolist()


def test_cold_start_from_a_few_ratings(setup):
    data, models = setup
    recs = cold_start(data, models["content"], {0: 5.0, 2: 1.0}, k=3)
    scores = models["content"].score_ratings({0: 5.0, 2: 1.0})
    expected = [i for i in np.argsort(-scores, kind="stable") if i not in (0, 2)][:3]
    assert recs["item"].tolist() == expected
    assert recs["title"].iloc[0].startswith("Star") and "Romance Story" not in recs["title"].tolist()[:2]
    assert len(cold_start(data, models["content"], {i: 4.0 for i in range(5)}, k=3)) == 1  # one item left
    with pytest.raises(ValueError, match="rate at least one item"):
        cold_start(data, models["content"], {}, k=3)
    with pytest.raises(ValueError, match="finite"):
        cold_start(data, models["content"], {0: float("nan")}, k=3)
    with pytest.raises(KeyError, match="item index 99"):
        cold_start(data, models["content"], {99: 5.0}, k=3)
    with pytest.raises(TypeError, match="is not a recommender; pass a fitted reclab model"):
        cold_start(data, "content", {0: 5.0}, k=3)


def test_newcomer_history_replaces_one_user_by_the_ratings_in_order(setup):
    data, _ = setup
    history = newcomer_history(data, {4: 2.0, 1: 5.0})
    mine = history.ratings[history.ratings["user"] == 0]
    assert mine["item"].tolist() == [4, 1] and mine["rating"].tolist() == [2.0, 5.0]
    assert (mine["timestamp"] > data.ratings["timestamp"].max()).all() and mine["timestamp"].is_monotonic_increasing
    others = history.ratings[history.ratings["user"] != 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, data.ratings[data.ratings["user"] != 0].reset_index(drop=True))
    with pytest.raises(KeyError, match="item index -1 in ratings is out of range"):
        newcomer_history(data, {-1: 3.0})


def test_cold_start_works_with_any_model_scoring_the_newcomer_history(setup):
    data, models = setup
    # Popularity: the most popular unrated items ([3, 2, 1, 1, 0, 0] distinct training users per item)
    assert cold_start(data, models["pop"], {0: 5.0}, k=3)["item"].tolist() == [1, 2, 3]
    # ItemKNN: the newcomer's row times the training similarities, by hand
    knn = ItemKNN(similarity="cosine", feedback="rating").fit(data)
    X = data.to_csr("rating").toarray()
    unit = X / np.maximum(np.linalg.norm(X, axis=0), 1e-12)  # items nobody rated: a zero column
    S = unit.T @ unit
    np.fill_diagonal(S, 0)
    row = np.zeros(data.n_items)
    row[[0, 2]] = [5.0, 1.0]
    scores = S @ row
    scores[[0, 2]] = -np.inf
    recs = cold_start(data, knn, {0: 5.0, 2: 1.0}, k=3)
    assert recs["item"].tolist() == list(np.argsort(-scores, kind="stable")[:3])
    np.testing.assert_allclose(recs["score"], np.round(np.sort(scores)[::-1][:3], 4), atol=1e-4)


def test_search_titles_any_case_most_rated_first(setup):
    data, _ = setup
    hits = search_titles(data, "STAR")
    assert hits["title"].tolist() == ["Star Wars", "Star Trek", "Star Dust"]
    assert hits["n_ratings"].tolist() == [3, 2, 0]
    assert search_titles(data, "story", n=1)["title"].tolist() == ["Love Story"]
    with pytest.raises(ValueError, match="non-empty string"):
        search_titles(data, "  ")


def test_widgets_wire_the_functions(setup):
    pytest.importorskip("ipywidgets")
    data, models = setup
    box = explorer(data, models, k=2)
    controls, panes = box.children
    assert "Love Story" in panes.children[0].value and "Star Trek" in panes.children[1].value
    controls.children[0].value = 1  # pick user 1: the panes follow
    assert "Space Heat" not in panes.children[0].value and "Star Trek" in panes.children[0].value

    rater = rate_movies(data, models["content"], k=2)
    (query, found), (stars, add, clear), (given, recs) = (row.children for row in rater.children)
    assert "rate a movie" in given.value
    query.value = "love"
    found.value, stars.value = 2, 1
    add.click()
    query.value = "wars"
    found.value, stars.value = 0, 5
    add.click()
    assert rater.ratings == {2: 1.0, 0: 5.0}
    assert cold_start(data, models["content"], rater.ratings, k=2)["title"].iloc[0] in recs.value
    clear.click()
    assert rater.ratings == {} and recs.value == ""


def test_rate_movies_selects_the_best_match_so_rate_it_works_without_touching_the_dropdown(setup):
    # in Chromium the movie box started blank and went blank after each search, and "rate it" did nothing
    data, models = setup
    rater = rate_movies(data, models["content"], k=2)
    (query, found), (stars, add, clear), (given, recs) = (row.children for row in rater.children)
    first_star = int(search_titles(data, "star", n=20)["item"].iloc[0])
    assert found.value == first_star and found.index == 0  # selected from the start
    add.click()
    assert rater.ratings == {first_star: 5.0} and "your ratings" in given.value
    query.value = "romance"
    assert found.value == 5 and found.label.startswith("Romance Story")  # a new search selects its best match
    add.click()
    assert rater.ratings == {first_star: 5.0, 5: 5.0}
    query.value = "no such movie"
    assert found.value is None and found.options == ()
    add.click()  # nothing to rate: the learner is told, the ratings stay
    assert "no movie matches" in given.value and rater.ratings == {first_star: 5.0, 5: 5.0}
