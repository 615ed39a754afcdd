"""Bad input to the data layer is refused or reported, never turned into a silent wrong result.

Each test builds the bad case by hand and checks the error (argument, column, row count, fix) or,
for a legitimate edge case, the result against a hand-made expectation.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from reclab.data import Interactions, leave_last_out, make_synthetic, random_split, temporal_split


def frame(users, items=None, ratings=None, timestamps=None) -> pd.DataFrame:
    n = len(users)
    return pd.DataFrame({
        "user_id": users,
        "item_id": list(range(n)) if items is None else items,
        "rating": [4.0] * n if ratings is None else ratings,
        "timestamp": list(range(n)) if timestamps is None else timestamps,
    })


def no_warning(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args, **kwargs)


# ---------------------------------------------------------------- from_frames: ratings values
def test_infinite_rating_is_refused_with_count_and_column():
    with pytest.raises(ValueError, match=r"ratings has 2 infinite rating\(s\) in column 'rating'.*finite"):
        Interactions.from_frames(frame([1, 2, 3], ratings=[np.inf, 3.0, -np.inf]))


def test_rating_beyond_float32_is_refused_not_turned_into_inf():
    with pytest.raises(ValueError, match=r"1 infinite or beyond-float32.*first: 1e\+39"):
        Interactions.from_frames(frame([1, 2], ratings=[1e39, 3.0]))


def test_negative_and_zero_ratings_are_kept_as_given():
    d = Interactions.from_frames(frame([1, 2, 3], ratings=[-2.5, 0.0, 5.0]))
    assert d.ratings["rating"].tolist() == [-2.5, 0.0, 5.0]


def test_string_ratings_are_a_type_error():
    with pytest.raises(TypeError, match=r"'rating' holds string values.*pd\.to_numeric"):
        Interactions.from_frames(frame([1, 2], ratings=["4", "5"]))


def test_ratings_with_columns_and_no_rows_is_refused():
    with pytest.raises(ValueError, match=r"ratings has the columns .* but no rows"):
        Interactions.from_frames(frame([]))


def test_ratings_that_is_not_a_frame_is_a_type_error():
    with pytest.raises(TypeError, match="ratings must be a pandas DataFrame; got dict"):
        Interactions.from_frames({"user_id": [1]})


# ---------------------------------------------------------------- from_frames: ids
@pytest.mark.parametrize("users", [
    [2**64 + 1, 2**64 + 2],                                 # Python ints beyond int64
    np.array([2**63 + 1, 2**63 + 2], dtype=np.uint64),      # uint64 above int64's maximum
], ids=["python-int", "uint64"])
def test_ids_that_do_not_fit_int64_are_refused(users):
    with pytest.raises(ValueError, match=r"ratings column 'user_id' has 2 value\(s\) that do not fit int64.*as str"):
        Interactions.from_frames(frame(users))


def test_float_ids_beyond_2_53_are_refused():
    # 1e19 and 1e19 + 4096 are two floats, but no float64 read of an id column that large is exact
    with pytest.raises(ValueError, match=r"'item_id' has 2 value\(s\) that are floats beyond 2\*\*53"):
        Interactions.from_frames(frame([1, 2], items=[1e19, 1e19 + 4096]))


def test_huge_ids_given_as_strings_stay_distinct():
    d = Interactions.from_frames(frame([str(2**64 + 1), str(2**64 + 2)]))
    assert d.n_users == 2 and list(d.user_ids) == ["18446744073709551617", "18446744073709551618"]


def test_missing_user_or_item_id_is_refused():
    with pytest.raises(ValueError, match=r"'user_id' has 1 missing value\(s\) \(NaN/None/NaT, first at iloc\[1\]\)"):
        Interactions.from_frames(frame([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match=r"'item_id' has 2 missing value\(s\)"):
        Interactions.from_frames(frame([1, 2, 3], items=["a", None, None]))


def test_fractional_float_id_is_refused():
    with pytest.raises(ValueError, match=r"'user_id' has 1 value\(s\) that are not whole numbers \(first: 1\.5"):
        Interactions.from_frames(frame([1.5, 2.0]))


def test_whole_float_ids_become_integers():
    d = Interactions.from_frames(frame([3.0, 1.0, 3.0]))
    assert d.user_ids.dtype == np.int64 and d.user_ids.tolist() == [1, 3]
    assert d.ratings["user"].tolist() == [1, 0, 1]
    assert d.user_index(3).tolist() == [1]


def test_string_ids_are_kept_and_sorted():
    d = Interactions.from_frames(frame(["bob", "al", "bob"], items=["x", "y", "x"]))
    assert list(d.user_ids) == ["al", "bob"] and d.ratings["user"].tolist() == [1, 0, 1]
    assert d.item_index(np.str_("y")).tolist() == [1]


def test_ids_mixing_numbers_and_strings_are_a_type_error():
    with pytest.raises(TypeError, match=r"'user_id' holds mixed-integer values.*astype\(str\)"):
        Interactions.from_frames(frame([1, "a"]))


def test_nullable_integer_ids_work_and_their_missing_values_are_refused():
    d = Interactions.from_frames(frame(pd.array([5, 7], dtype="Int64")))
    assert d.user_ids.tolist() == [5, 7]
    with pytest.raises(ValueError, match=r"'user_id' has 1 missing value"):
        Interactions.from_frames(frame(pd.array([5, None], dtype="Int64")))


def test_repeated_pairs_are_kept_as_rows():
    d = Interactions.from_frames(frame([1, 1, 1], items=[9, 9, 9], ratings=[1.0, 2.0, 3.0]))
    assert len(d) == 3 and d.to_csr().toarray().tolist() == [[3.0]]  # to_csr keeps the latest


# ---------------------------------------------------------------- from_frames: side tables
def test_items_table_with_nan_id_is_refused_naming_the_table():
    items = pd.DataFrame({"item_id": [0.0, np.nan], "title": ["a", "b"]})
    with pytest.raises(ValueError, match=r"items column 'item_id' has 1 missing value"):
        Interactions.from_frames(frame([1], items=[0]), items)


def test_users_table_with_nan_id_is_refused_naming_the_table():
    users = pd.DataFrame({"user_id": [1, None]})
    with pytest.raises(ValueError, match=r"users column 'user_id' has 1 missing value"):
        Interactions.from_frames(frame([1]), users=users)


def test_side_table_ids_are_matched_after_the_same_cleaning():
    items = pd.DataFrame({"item_id": [2.0, 1.0, 3.0], "title": ["B", "A", "C"]})
    d = Interactions.from_frames(frame([7, 7], items=[1, 2]), items)
    assert d.item_ids.tolist() == [1, 2, 3] and d.items["title"].tolist() == ["A", "B", "C"]
    with pytest.raises(ValueError, match=r"items lists item_id=1 more than once"):
        Interactions.from_frames(frame([7], items=[1]), pd.DataFrame({"item_id": [1, 1.0]}))


def test_empty_items_table_names_the_missing_items():
    with pytest.raises(ValueError, match=r"1 item_id value\(s\) in ratings are missing from items \(first: 2\)"):
        Interactions.from_frames(frame([1], items=[2]), pd.DataFrame({"item_id": []}))


# ---------------------------------------------------------------- from_frames: timestamps
def test_nan_timestamp_is_refused_not_made_the_oldest():
    with pytest.raises(ValueError, match=r"'timestamp' has 1 missing value.*oldest"):
        Interactions.from_frames(frame([1, 2], timestamps=[5, np.nan]))


def test_fractional_timestamps_are_refused_whole_floats_accepted():
    with pytest.raises(ValueError, match=r"'timestamp' has 1 value\(s\) that are not whole numbers.*np\.floor"):
        Interactions.from_frames(frame([1, 1], timestamps=[1.2, 3.0]))
    d = Interactions.from_frames(frame([1, 1], timestamps=[5.0, 3.0]))
    assert d.ratings["timestamp"].dtype == np.int64 and d.ratings["timestamp"].tolist() == [5, 3]


def test_infinite_timestamp_is_refused():
    with pytest.raises(ValueError, match=r"'timestamp' has 1 value\(s\) that are infinite"):
        Interactions.from_frames(frame([1, 2], timestamps=[5.0, np.inf]))


def test_datetimes_become_unix_seconds_naive_read_as_utc():
    naive = pd.to_datetime(["2020-01-01 00:00:00", "2020-01-02 00:00:01"])
    d = Interactions.from_frames(frame([1, 2], timestamps=naive))
    assert d.ratings["timestamp"].tolist() == [1_577_836_800, 1_577_923_201]  # date -u -d ... +%s
    berlin = naive.tz_localize("Europe/Berlin")  # UTC+1 in winter: one hour earlier in UTC
    d = Interactions.from_frames(frame([1, 2], timestamps=berlin))
    assert d.ratings["timestamp"].tolist() == [1_577_833_200, 1_577_919_601]


def test_datetimes_with_fractions_of_a_second_or_nat_are_refused():
    stamps = pd.to_datetime(["2020-01-01 00:00:00.5", "2020-01-01 00:00:00.0"], format="ISO8601")
    with pytest.raises(ValueError, match=r"1 datetime\(s\) with fractions of a second.*dt\.floor"):
        Interactions.from_frames(frame([1, 2], timestamps=stamps))
    with pytest.raises(ValueError, match=r"'timestamp' has 1 missing value"):
        Interactions.from_frames(frame([1, 2], timestamps=pd.to_datetime(["2020-01-01", None])))


def test_string_timestamps_are_a_type_error_with_both_conversions():
    with pytest.raises(TypeError, match=r"'timestamp' holds string values.*pd\.to_datetime.*pd\.to_numeric"):
        Interactions.from_frames(frame([1, 2], timestamps=["881250949", "881250950"]))


# ---------------------------------------------------------------- the constructor by hand
def by_hand(user, item, n_users=2, n_items=3, **kwargs) -> Interactions:
    ratings = pd.DataFrame({"user": np.asarray(user, np.int32), "item": np.asarray(item, np.int32),
                            "rating": np.ones(len(user), np.float32), "timestamp": np.arange(len(user), dtype=np.int64)})
    items = kwargs.pop("items", pd.DataFrame({"item_id": np.arange(n_items) * 10}))
    return Interactions(ratings, items, kwargs.pop("users", None), np.arange(n_users) + 100,
                        kwargs.pop("item_ids", np.arange(n_items) * 10), **kwargs)


def test_hand_built_valid_interactions_work():
    d = by_hand([0, 1], [2, 0])
    assert d.to_csr().toarray().tolist() == [[0, 0, 1], [1, 0, 0]]


@pytest.mark.parametrize("user, item, message", [
    ([0, 2], [0, 1], r"column 'user' has 1 index\(es\) outside 0\.\.1 \(first: 2 at iloc\[1\]\); user_ids has 2"),
    ([0, -1], [0, 1], r"column 'user' has 1 index\(es\) outside 0\.\.1 \(first: -1"),
    ([0, 1], [3, 5], r"column 'item' has 2 index\(es\) outside 0\.\.2"),
])
def test_indices_outside_the_id_range_are_refused_at_construction(user, item, message):
    with pytest.raises(ValueError, match=message):
        by_hand(user, item)


def test_with_ratings_checks_indices_too():
    d = by_hand([0, 1], [2, 0])
    bad = d.ratings.assign(item=np.int32(7))
    with pytest.raises(ValueError, match=r"column 'item' has 2 index\(es\) outside 0\.\.2"):
        d.with_ratings(bad)
    # an empty part and a NaN rating are structure-valid (models refuse NaN themselves)
    assert len(d.with_ratings(d.ratings.iloc[:0])) == 0
    assert np.isnan(d.with_ratings(d.ratings.assign(rating=np.nan)).ratings["rating"]).all()


def test_missing_column_and_wrong_dtypes_are_refused():
    d = by_hand([0, 1], [2, 0])
    with pytest.raises(ValueError, match=r"ratings lacks column\(s\) \['timestamp'\].*from_frames"):
        d.with_ratings(d.ratings.drop(columns="timestamp"))
    with pytest.raises(TypeError, match=r"ratings column 'user' has dtype float64; it must hold integer indices"):
        d.with_ratings(d.ratings.astype({"user": float}))
    with pytest.raises(TypeError, match=r"ratings column 'timestamp' has dtype (object|str); it must hold integer Unix seconds"):
        d.with_ratings(d.ratings.assign(timestamp=["a", "b"]))


def test_side_tables_must_have_one_row_per_index_in_order():
    with pytest.raises(ValueError, match=r"items has 2 rows but item_ids has 3"):
        by_hand([0], [0], items=pd.DataFrame({"item_id": [0, 10]}))
    with pytest.raises(ValueError, match=r"items\['item_id'\] is not item_ids in order \(first difference: 20 at iloc\[1\]\)"):
        by_hand([0], [0], items=pd.DataFrame({"item_id": [0, 20, 10]}))
    with pytest.raises(ValueError, match=r"users has 1 rows but user_ids has 2"):
        by_hand([0], [0], users=pd.DataFrame({"user_id": [100]}))


def test_repeated_ids_are_refused():
    with pytest.raises(ValueError, match="item_ids repeats an id"):
        by_hand([0], [0], item_ids=np.array([0, 10, 10]), items=None)


# ---------------------------------------------------------------- lookups
def test_lookups_accept_numpy_scalars_and_arrays():
    d = Interactions.from_frames(frame([10, 20, 30], items=[5, 6, 7]))
    assert d.user_index(np.int64(20)).tolist() == [1]
    assert d.user_index(np.array([30, 10], np.int32)).tolist() == [2, 0]
    assert d.item_index(np.uint8(7)).tolist() == [2]
    with pytest.raises(KeyError, match="unknown item id 8"):
        d.item_index(np.int64(8))


# ---------------------------------------------------------------- temporal_split
def timed(ts) -> Interactions:
    return Interactions.from_frames(frame(list(range(len(ts))), timestamps=ts))


def test_temporal_split_with_one_timestamp_is_refused():
    with pytest.raises(ValueError, match=r"all 4 ratings share one timestamp \(7\).*leave_last_out"):
        temporal_split(timed([7, 7, 7, 7]))


def test_temporal_split_with_test_start_after_the_data_is_refused():
    with pytest.raises(ValueError, match=r"test_start=25 is after the last rating \(20\); the test part would be empty"
                                         r".*between 11 and 20.*test_frac=0"):
        temporal_split(timed([10, 15, 20]), test_start=np.int64(25))


def test_temporal_split_with_a_cut_at_or_before_the_first_rating_is_refused():
    with pytest.raises(ValueError, match=r"valid_start=5 \(given\) is at or before the first rating \(10\); "
                                         r"the train part would be empty.*between 11 and 20"):
        temporal_split(timed([10, 15, 20]), valid_start=5, test_start=15)
    with pytest.raises(ValueError, match=r"test_start=10 \(given\).*train part would be empty"):
        temporal_split(timed([10, 15, 20]), valid_frac=0, test_start=10)


def test_temporal_split_fraction_on_the_first_timestamp_is_refused():
    # 3 of 4 ratings at t=1: the last 50% starts at t=1, so nothing is before it
    with pytest.raises(ValueError, match=r"valid_start=1 \(chosen from valid_frac=0\.25, test_frac=0\.25\).*lower the fractions"):
        temporal_split(timed([1, 1, 1, 2]), 0.25, 0.25)


def test_temporal_split_valid_start_chosen_after_a_given_test_start_says_so():
    # times 0..9: valid_frac + test_frac = 20% starts at index floor(10 · 0.8) = 8, i.e. t=8
    message = r"valid_start=8 \(chosen from valid_frac=0\.1.*\) is after test_start=3; pass valid_start"
    with pytest.raises(ValueError, match=message):
        temporal_split(timed(list(range(10))), test_start=3)


@pytest.mark.parametrize("name", ["valid_start", "test_start"])
def test_temporal_split_nan_or_text_cut_is_refused(name):
    with pytest.raises(ValueError, match=fr"{name}=nan is not a time"):
        temporal_split(timed([1, 2, 3]), **{name: float("nan")})
    with pytest.raises(TypeError, match=fr"{name}='2020-01-01' must be a time in Unix seconds"):
        temporal_split(timed([1, 2, 3]), **{name: "2020-01-01"})


def test_temporal_split_accepts_numpy_cuts():
    split = no_warning(temporal_split, timed([10, 20, 30, 40]), valid_start=np.int64(20), test_start=np.int32(40))
    assert [p.ratings["timestamp"].tolist() for p in (split.train, split.valid, split.test)] == [[10], [20, 30], [40]]
    assert split.how == "temporal (valid from 20, test from 40)"


def test_temporal_split_empty_valid_asked_for_is_silent():
    split = no_warning(temporal_split, timed([1, 2, 3, 4]), valid_frac=0, test_frac=0.25)
    assert (len(split.train), len(split.valid), len(split.test)) == (3, 0, 1)
    split = no_warning(temporal_split, timed([1, 2, 3, 4]), valid_start=3, test_start=3)
    assert (len(split.train), len(split.valid), len(split.test)) == (2, 0, 2)


def test_temporal_split_empty_valid_not_asked_for_warns():
    with pytest.warns(UserWarning, match=r"valid_start=12 gives an empty valid part: no rating lies in \[12, 18\).*10 to 20"):
        split = temporal_split(timed([10, 11, 18, 20]), valid_start=12, test_start=18)
    assert (len(split.train), len(split.valid), len(split.test)) == (2, 0, 2)
    # the last 25% starts at t=9, and the 25% before it too: ties swallow valid_frac
    with pytest.warns(UserWarning, match=r"valid_frac=0\.25 gives an empty valid part"):
        split = temporal_split(timed([1, 2, 9, 9]), 0.25, 0.25)
    assert (len(split.train), len(split.valid), len(split.test)) == (2, 0, 2)


# ---------------------------------------------------------------- fractions and seeds
@pytest.mark.parametrize("split", [temporal_split, random_split])
def test_nan_or_text_fractions_are_refused(split):
    with pytest.raises(ValueError, match=r"valid_frac=nan must be in \[0, 1\)"):
        split(timed([1, 2, 3]), valid_frac=float("nan"))
    with pytest.raises(ValueError, match=r"test_frac=nan must be in \[0, 1\)"):
        split(timed([1, 2, 3]), test_frac=np.float64("nan"))
    with pytest.raises(TypeError, match=r"test_frac='0\.1' must be a number"):
        split(timed([1, 2, 3]), test_frac="0.1")


def test_random_split_accepts_numpy_fractions_and_seed():
    data = timed(list(range(20)))
    split = no_warning(random_split, data, np.float64(0.1), np.float32(0.25), seed=np.int64(3))
    assert (len(split.train), len(split.valid), len(split.test)) == (13, 2, 5)  # round(20·0.1), round(20·0.25)
    assert split.how == "random (seed 3)"


def test_random_split_bad_seed():
    with pytest.raises(TypeError, match=r"seed=1\.5 must be an integer"):
        random_split(timed([1, 2, 3]), seed=1.5)
    with pytest.raises(ValueError, match=r"seed=-1 must be >= 0"):
        random_split(timed([1, 2, 3]), seed=-1)


def test_random_split_on_tiny_data_refuses_an_empty_train_and_warns_on_an_empty_part():
    with pytest.raises(ValueError, match=r"give 1 valid \+ 1 test, leaving train empty"):
        random_split(timed([1, 2]), 0.45, 0.45)
    with pytest.warns(UserWarning, match=r"valid_frac=0\.1 of 3 rating\(s\) rounds to 0; the valid part is empty"):
        split = random_split(timed([1, 2, 3]), 0.1, 0.3)
    assert (len(split.train), len(split.valid), len(split.test)) == (2, 0, 1)


# ---------------------------------------------------------------- leave_last_out
def test_leave_last_out_without_a_user_of_three_warns_and_keeps_the_rule():
    data = Interactions.from_frames(frame([1, 1, 2, 2, 3], items=[1, 2, 3, 4, 5], timestamps=[5, 3, 1, 2, 9]))
    with pytest.warns(UserWarning, match=r"no user .* has 3 or more interactions \(the most is 2\), so the valid part is empty"):
        split = leave_last_out(data)
    assert len(split.valid) == 0
    # user 1's latest is item 1 (t=5), user 2's is item 4 (t=2); user 3 has one rating: it stays in train
    assert sorted(data.item_ids[split.test.ratings["item"]].tolist()) == [1, 4]
    assert sorted(data.item_ids[split.train.ratings["item"]].tolist()) == [2, 3, 5]


def test_leave_last_out_with_single_interaction_users_warns_about_both_parts():
    with pytest.warns(UserWarning, match=r"the most is 1\), so the valid and test parts are empty"):
        split = leave_last_out(timed([1, 2, 3]))
    assert (len(split.train), len(split.valid), len(split.test)) == (3, 0, 0)


@pytest.mark.parametrize("split", [leave_last_out, temporal_split, random_split])
def test_splitting_no_ratings_is_refused(split):
    empty = timed([1, 2]).with_ratings(timed([1, 2]).ratings.iloc[:0])
    with pytest.raises(ValueError, match="has no ratings to split"):
        split(empty)


# ---------------------------------------------------------------- make_synthetic
def test_make_synthetic_sizes_are_checked_and_numpy_integers_accepted():
    d = make_synthetic(n_users=np.int64(5), n_items=np.int32(12), n_clusters=2, seed=np.int64(1))
    assert (d.n_users, d.n_items) == (5, 12)
    with pytest.raises(ValueError, match=r"n_users=0 must be at least 1"):
        make_synthetic(n_users=0)
    with pytest.raises(ValueError, match=r"n_clusters=0 must be at least 1"):
        make_synthetic(n_clusters=0)
    with pytest.raises(TypeError, match=r"n_items=2\.5 must be an integer"):
        make_synthetic(n_items=2.5)


def test_temporal_split_valid_start_after_the_data_without_test_warns():
    with pytest.warns(UserWarning, match=r"valid_start=31 gives an empty valid part"):
        split = temporal_split(timed([10, 20, 30]), test_frac=0, valid_start=31)
    assert (len(split.train), len(split.valid), len(split.test)) == (3, 0, 0)
