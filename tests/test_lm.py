"""Language-model recommenders (reclab.models.lm): LMZeroShot and TextSASRec.

Checked against MiniLM called directly and numpy formulas written out here, and on synthetic data
with planted structure: item titles drawn from one topic per taste cluster, so a model that reads
text can rank a cold item (no training rows) whose text matches the user's history.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import SASRec
from reclab.models.content import load_minilm
from reclab.models.hybrid import cold_item_split
from reclab.models.lm import (LMZeroShot, TextSASRec, TextSASRecNet, check_query, item_text_vectors, item_texts,
                              whiten)

TOPICS = [["galaxy", "rocket", "astronaut", "planet", "spaceship"], ["kitchen", "recipe", "chef", "bakery", "soup"],
          ["soccer", "football", "goal", "stadium", "team"], ["cowboy", "horse", "sheriff", "saloon", "desert"]]
FAST = dict(n_factors=32, n_epochs=30, patience=5, device="cpu")


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()  # ~5 s: loaded once for the module (and memoised by reclab, so the models share it)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("embeddings"))


def with_texts(data: Interactions, titles, genres=None, years=None) -> Interactions:
    items = data.items.copy()
    items["title"] = list(titles)
    items["genres"] = [[] for _ in titles] if genres is None else list(genres)
    items["year"] = pd.array([pd.NA] * len(titles) if years is None else list(years), dtype="Int64")
    return dataclasses.replace(data, items=items)


@pytest.fixture(scope="module")
def topics():
    """60 items in 4 taste clusters; an item's title is two words of its cluster's topic and its index."""
    data = make_synthetic(n_users=200, n_items=60, seed=0)
    rng = np.random.default_rng(0)
    titles = [" ".join(rng.choice(TOPICS[c], 2, replace=False)) + f" {i}" for i, c in enumerate(data.items["cluster"])]
    return with_texts(data, titles)


@pytest.fixture(scope="module")
def cold(topics):
    return cold_item_split(leave_last_out(topics), frac=0.3, seed=0)


def toy(n_users: int = 2, n_items: int = 4, rows=()) -> Interactions:
    """Hand-made interactions: rows are (user, item, timestamp)."""
    ratings = pd.DataFrame({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
                            "rating": 5.0, "timestamp": [r[2] for r in rows]})
    items = pd.DataFrame({"item_id": np.arange(n_items)})
    return Interactions.from_frames(ratings, items, pd.DataFrame({"user_id": np.arange(n_users)}))


TOY_TITLES = ["A spaceship lost among the stars", "Astronauts land on a red planet", "A chef opens a bakery",
              "Cowboys ride into a desert town"]


# ------------------------------------------------------------------------------ item texts and vectors
def test_item_texts_read_title_year_genres_and_empty_is_empty():
    items = pd.DataFrame({"title": ["Toy Story", "", "  "], "year": pd.array([1995, pd.NA, pd.NA], dtype="Int64"),
                          "genres": [["Animation", "Comedy"], [], []]})
    assert item_texts(items) == ["Toy Story (1995) — Animation, Comedy", "", ""]
    with pytest.raises(ValueError, match=r"none of the columns title, year, genres .*'item_id'"):
        item_texts(pd.DataFrame({"item_id": [1, 2]}))


def test_item_text_vectors_are_minilm_and_empty_texts_are_zero_with_a_warning(minilm, cache):
    texts = ["Toy Story (1995) — Animation", "", "Heat (1995) — Action", ""]
    with pytest.warns(UserWarning, match=r"2 of 4 item\(s\) have an empty text .*indices \[1, 3\]"):
        vectors = item_text_vectors(texts, cache_dir=cache)
    expected = minilm.encode([texts[0], texts[2]], normalize_embeddings=True)
    np.testing.assert_allclose(vectors[[0, 2]], expected, atol=1e-5)
    np.testing.assert_array_equal(vectors[[1, 3]], 0.0)
    with pytest.raises(ValueError, match="all 2 items have an empty text"):
        item_text_vectors(["", ""], cache_dir=cache)


def test_whiten_centres_on_the_items_with_text_and_keeps_empty_rows_zero():
    v = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 1.0]], np.float32)
    mean = np.array([2 / 3, 2 / 3])  # of rows 0, 1 and 3: the empty row 2 is not an item text
    expected = v - mean
    expected[2] = 0
    expected[[0, 1, 3]] /= np.linalg.norm(expected[[0, 1, 3]], axis=1, keepdims=True)
    np.testing.assert_allclose(whiten(v), expected, atol=1e-6)


# ------------------------------------------------------------------------------ LMZeroShot
def test_lm_zero_shot_scores_are_recency_weighted_cosines(minilm, cache):
    data = with_texts(toy(2, 4, [(0, 0, 1), (0, 2, 2), (0, 1, 3), (1, 3, 1)]), TOY_TITLES)
    X = minilm.encode(TOY_TITLES, normalize_embeddings=True)
    for half_life, w in ((2.0, [0.5 ** (2 / 2), 0.5 ** (1 / 2), 1.0]), (None, [1.0, 1.0, 1.0])):
        model = LMZeroShot(half_life=half_life, cache_dir=cache).fit(data)
        u = w[0] * X[0] + w[1] * X[2] + w[2] * X[1]  # user 0 saw items 0, 2, 1 in that order
        np.testing.assert_allclose(model.score(0), [X @ u / np.linalg.norm(u)], atol=1e-5)
        np.testing.assert_allclose(model.score(1), [X @ X[3]], atol=1e-5)


def test_lm_zero_shot_scores_from_the_history_given(cache):
    data = with_texts(toy(2, 4, [(0, 0, 1), (1, 3, 1)]), TOY_TITLES)
    model = LMZeroShot(cache_dir=cache).fit(data)
    later = data.with_ratings(pd.DataFrame({"user": [0, 1], "item": [2, 3], "rating": np.float32(5),
                                            "timestamp": [1, 1]}), name="later")
    # user 0 now has only the bakery in their history: it is their nearest item, the spaceship is not
    assert model.score(0).argmax() == 0 and model.score(0, history=later).argmax() == 2


def test_lm_zero_shot_learns_the_planted_topics_warm_and_cold(topics, cold, cache):
    split = leave_last_out(topics)
    for part in (split, cold):
        model = LMZeroShot(cache_dir=cache).fit(part.train)
        hr = evaluate(model, part, 10, metrics=("HR",))["value"].iloc[0]
        # 15 items a topic, 10 slots: ranking by topic alone gives HR@10 near 10/15 or better
        assert hr > 0.6, part.how


def test_lm_zero_shot_user_without_profile_gets_popularity(cache):
    data = with_texts(toy(3, 4, [(0, 0, 1), (0, 1, 2), (1, 1, 1), (2, 2, 1)]), TOY_TITLES)
    model = LMZeroShot(cache_dir=cache).fit(data)
    history = data.with_ratings(data.ratings[data.ratings["user"] != 2], name="without user 2")
    np.testing.assert_array_equal(model.score(2, history=history), [[1, 2, 1, 0]])  # training users per item


def test_lm_zero_shot_empty_text_items_warn_and_score_zero(cache):
    titles = TOY_TITLES[:3] + [""]
    data = with_texts(toy(2, 4, [(0, 0, 1), (0, 3, 2), (1, 1, 1)]), titles)
    with pytest.warns(UserWarning, match=r"1 of 4 item\(s\) have an empty text .*indices \[3\]"):
        model = LMZeroShot(cache_dir=cache).fit(data)
    scores = model.score([0, 1])
    np.testing.assert_array_equal(scores[:, 3], 0.0)
    # the empty item in user 0's history adds nothing: their profile is item 0's vector alone
    np.testing.assert_allclose(scores[0], model.item_vectors_ @ model.item_vectors_[0], atol=1e-6)


def test_query_finds_the_topic_described(topics, minilm, cache):
    model = LMZeroShot(cache_dir=cache).fit(topics)
    items, scores = model.query("astronauts fly a rocket to another planet", k=5)
    assert items.shape == (5,) and np.all(np.diff(scores) <= 0)
    assert set(topics.items["cluster"].to_numpy()[items]) == {topics.items["cluster"][
        topics.items["title"].str.contains("galaxy|rocket|astronaut|planet|spaceship")].iloc[0]}
    q = minilm.encode(["a horse and a sheriff", "soup"], normalize_embeddings=True)
    np.testing.assert_allclose(model.score_text(["a horse and a sheriff", "soup"]), q @ model.item_vectors_.T,
                               atol=1e-5)


def test_bad_queries_are_refused_or_warned(topics, cache):
    model = LMZeroShot(cache_dir=cache).fit(topics)
    with pytest.raises(TypeError, match="text must be a str .* got int"):
        model.query(3)
    with pytest.raises(ValueError, match="text='' is empty"):
        model.query("   ")
    with pytest.raises(TypeError, match="texts must be a list of str, got the str"):
        model.score_text("soup")
    with pytest.raises(ValueError, match="k=0 must be an int from 1 to 60"):
        model.query("soup", k=0)
    with pytest.warns(UserWarning, match=r"outside the Latin script \(22 of 22 letters\).*write the query in English"):
        items, _ = model.query("космическое приключение")
    assert items.shape == (10,)  # scored all the same, as documented
    with pytest.warns(UserWarning, match="outside the Latin script"):
        check_query("宇宙の冒険")
    assert check_query("  une aventure spatiale drôle ") == "une aventure spatiale drôle"  # Latin script: no warning
    with pytest.raises(ValueError, match=r"half_life=0 is not valid: it must be a finite number > 0, or None"):
        LMZeroShot(half_life=0).fit(topics)


def test_lm_zero_shot_save_load_round_trip(topics, cache, tmp_path):
    model = LMZeroShot(half_life=3.0, cache_dir=cache).fit(topics)
    loaded = LMZeroShot.load(model.save(tmp_path / "lm.npz"))
    assert loaded.half_life == 3.0
    np.testing.assert_array_equal(loaded.score([0, 5]), model.score([0, 5]))
    np.testing.assert_array_equal(loaded.query("soup")[0], model.query("soup")[0])


# ------------------------------------------------------------------------------ TextSASRec
@pytest.fixture(scope="module")
def cold_models(cold, cache):
    torch.set_num_threads(1)
    return {name: make().fit(cold.train, valid=cold.valid) for name, make in {
        "SASRec": lambda: SASRec(**FAST),
        "text": lambda: TextSASRec(with_ids=False, cache_dir=cache, **FAST),
        "text+id": lambda: TextSASRec(with_ids=True, cache_dir=cache, **FAST)}.items()}


def test_text_sasrec_ranks_the_planted_cold_items_id_sasrec_cannot(cold, cold_models):
    hr = {name: evaluate(m, cold, 10, metrics=("HR",))["value"].iloc[0] for name, m in cold_models.items()}
    n_users = evaluate(cold_models["SASRec"], cold, 10, metrics=("HR",))["n_users"].iloc[0]
    assert n_users >= 40  # users whose held-out item has no training row
    assert hr["SASRec"] <= 0.1, hr  # an item with no training row gets an untrained, pushed-down embedding
    # its text says which topic it is. (Without the masking of cold items out of the ID table and the
    # training softmax, HR@10 here falls to 0.74 with text alone and 0.14 with text + ID.)
    assert hr["text"] >= 0.85 and hr["text+id"] >= 0.85, hr


def test_text_sasrec_scores_a_cold_item_by_its_text_alone(cold, cold_models):
    model = cold_models["text+id"]
    net = model.net_
    unknown = np.flatnonzero(model.popularity_ == 0)
    assert len(unknown) >= 10 and np.array_equal(net.known[1:, 0].numpy() == 0, model.popularity_ == 0)
    with torch.no_grad():
        text_part = net.adaptor(net.text)[1:]
        table = net.item_table()[1:]
        ids = net.item_emb.weight[1:].detach()
    np.testing.assert_allclose(table[unknown].numpy(), text_part[unknown].numpy(), atol=1e-6)  # no ID row
    known = np.flatnonzero(model.popularity_ > 0)
    np.testing.assert_allclose(table[known].numpy(), (text_part + ids)[known].numpy(), atol=1e-6)


def test_text_sasrec_loss_is_cross_entropy_over_the_training_catalogue_only():
    torch.manual_seed(0)
    text = torch.randn(6, 8)
    known = torch.tensor([True, True, False, True, True, False])
    net = TextSASRecNet(text, known, d=4, n_blocks=1, n_heads=1, max_len=5, dropout=0.0, loss="ce", with_ids=True)
    items, targets = torch.tensor([[0, 1, 2], [4, 5, 1]]), torch.tensor([[0, 2, 4], [5, 1, 2]])
    with torch.no_grad():
        hidden = net(items)
        W = torch.cat([torch.zeros(1, 4), net.adaptor(text) + net.item_emb.weight[1:] * known[:, None]])
        # by hand: each target among the known items only (rows 1, 2, 4, 5 of the table)
        rows = [1, 2, 4, 5]
        losses = [-F.log_softmax(hidden[b, t] @ W[rows].T, dim=0)[rows.index(int(targets[b, t]))]
                  for b in range(2) for t in range(3) if targets[b, t] > 0]
        assert torch.isclose(net.loss({"items": items, "targets": targets}), torch.stack(losses).mean(), atol=1e-5)
        np.testing.assert_allclose(net.item_table().numpy(), W.numpy(), atol=1e-6)


def test_text_sasrec_follows_the_contract(cold, cold_models, tmp_path):
    model = cold_models["text"]
    assert model.net_.item_emb is None  # text alone: no ID table at all
    history = cold.history("test")
    scores = model.score(np.arange(cold.train.n_users), history=history)
    assert scores.shape == (cold.train.n_users, cold.train.n_items) and np.isfinite(scores).all()
    items, _ = model.recommend([0, 1], k=5, history=history)
    seen = history.binary()
    assert not any(seen[u, i] for u, row in zip([0, 1], items) for i in row)
    sequences = history.sequences()
    np.testing.assert_allclose(model.score_sequences([sequences[3]]), scores[[3]], atol=1e-5)
    for name in ("text", "text+id"):
        loaded = TextSASRec.load(cold_models[name].save(tmp_path / f"{name}.npz"))
        np.testing.assert_allclose(loaded.score([0, 7], history=history),
                                   cold_models[name].score([0, 7], history=history), atol=1e-5)
    vectors = model.similar_items(0, k=3)
    assert vectors[0].shape == (3,)


def test_text_sasrec_bad_input_and_empty_texts(topics, cache):
    with pytest.raises(ValueError, match="with_ids='yes' is not valid: it must be True or False"):
        TextSASRec(with_ids="yes", cache_dir=cache).fit(topics)
    titles = list(topics.items["title"])
    titles[4] = titles[9] = ""
    with pytest.warns(UserWarning, match=r"2 of 60 item\(s\) have an empty text .*indices \[4, 9\]"):
        model = TextSASRec(cache_dir=cache, n_factors=16, n_epochs=1, device="cpu").fit(with_texts(topics, titles))
    np.testing.assert_array_equal(model.text_[[4, 9]], 0.0)
    assert np.isfinite(model.score([0, 1])).all()
    with pytest.raises(ValueError, match="none of the columns title, year, genres"):
        TextSASRec(cache_dir=cache, n_epochs=1).fit(dataclasses.replace(topics, items=topics.items[["item_id"]]))


def test_id_dropout_hides_id_rows_in_training_only():
    torch.manual_seed(0)
    text, known = torch.randn(5, 8), torch.ones(5, dtype=torch.bool)
    net = TextSASRecNet(text, known, d=4, n_blocks=1, n_heads=1, max_len=5, dropout=0.0, loss="ce", with_ids=True,
                        id_dropout=0.999999)
    with torch.no_grad():
        text_part = torch.cat([torch.zeros(1, 4), net.adaptor(text)])
        with_ids = text_part + net.item_emb.weight
        net.train()
        np.testing.assert_allclose(net.item_table().numpy(), text_part.numpy(), atol=1e-6)  # every ID row dropped
        net.eval()
        np.testing.assert_allclose(net.item_table().numpy(), with_ids.numpy(), atol=1e-6)  # none at scoring time
    with pytest.raises(ValueError, match=r"id_dropout=1.0 is not valid: it must be a finite number in \[0, 1\)"):
        TextSASRec(id_dropout=1.0).fit(make_synthetic(n_users=10, n_items=8, n_clusters=2, seed=0))
