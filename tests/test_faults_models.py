"""Model inputs and model files under bad input (issue #9): foreign valid, numpy ints, empty users,
damaged .npz files, and a damaged embedding cache. Every class of reclab.models.__all__ where it applies."""
from __future__ import annotations

import dataclasses
import json
import warnings
import zipfile

import numpy as np
import pytest

from reclab import models
from reclab.data import leave_last_out, make_synthetic
from reclab.models.content import embed_texts, embedding_cache_path

CLASSES = sorted(set(models.__all__) - {"NotFittedError", "Recommender", "sample_negatives", "semantic_ids"})
N_USERS, N_ITEMS = 40, 30


def params(name: str, as_int=int) -> dict:
    """Tiny, fast settings for each class; every int goes through ``as_int`` (int or np.int64)."""
    i = as_int
    torch_common = dict(n_epochs=i(2), seed=i(1), patience=i(2), device="cpu")
    return {
        "Random": dict(seed=i(1)), "Popularity": {}, "ContentBased": {}, "EASE": dict(reg=i(10)),
        "DPEASE": dict(epsilon=i(5), reg=i(50), max_items=i(10), seed=i(1)),
        "UserKNN": dict(k_neighbours=i(5)), "ItemKNN": dict(k_neighbours=i(5)),
        "FunkSVD": dict(n_factors=i(4), batch_size=i(64), **torch_common),
        "BPR": dict(n_factors=i(4), batch_size=i(64), **torch_common),
        "ALS": dict(n_factors=i(4), n_epochs=i(2), seed=i(1)),
        "GMF": dict(n_factors=i(4), n_negatives=i(2), batch_size=i(256), **torch_common),
        "MLP": dict(layers=(i(8), i(4)), n_negatives=i(2), batch_size=i(256), **torch_common),
        "NeuMF": dict(n_factors=i(4), layers=(i(8), i(4)), n_negatives=i(2), batch_size=i(256), **torch_common),
        "MarkovChain": dict(smoothing=i(1), backoff=i(1)),
        "GRU4Rec": dict(n_factors=i(8), n_hidden=i(8), n_layers=i(1), max_len=i(10), n_negatives=i(5),
                        batch_size=i(16), **torch_common),
        "SASRec": dict(n_factors=i(8), n_blocks=i(1), n_heads=i(2), max_len=i(10), batch_size=i(16), **torch_common),
        "BERT4Rec": dict(n_factors=i(8), n_blocks=i(1), n_heads=i(2), max_len=i(10), n_masks=i(2), batch_size=i(16),
                         **torch_common),
        "Caser": dict(n_factors=i(8), max_len=i(3), n_h=i(2), n_v=i(2), n_targets=i(2), batch_size=i(16), **torch_common),
        "Hybrid": dict(models=[models.Popularity(), models.EASE(reg=10.0)], min_history=i(5)),
        "FeatureUsers": dict(model=models.EASE(reg=i(10))),
        "Rerank": dict(retriever=models.EASE(reg=i(10)), ranker=models.Popularity(), n_candidates=i(10), weight=0.5),
        "LMZeroShot": dict(half_life=i(2)),
        "SemanticIDRec": dict(encoder="random", levels=i(2), codes=i(4), n_factors=i(8), n_blocks=i(1), n_heads=i(2),
                              max_len=i(10), batch_size=i(16), beam=i(5), **torch_common),
        "TextSASRec": dict(n_factors=i(8), n_blocks=i(1), n_heads=i(2), max_len=i(10), batch_size=i(16), **torch_common),
    }[name]


def build(name: str, as_int=int):
    return getattr(models, name)(**params(name, as_int))


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=N_USERS, n_items=N_ITEMS, seed=1))


@pytest.fixture(scope="module")
def fitted(split):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ContentBased warns about repeated pairs in synthetic data
        return {name: build(name).fit(split.train, valid=split.valid) for name in CLASSES}


def test_every_model_class_is_covered():
    assert len(CLASSES) == 24 and {"SASRec", "ALS", "Hybrid", "FeatureUsers", "LMZeroShot", "Random"} <= set(CLASSES)


# ------------------------------------------------------------------------------ valid from another dataset
@pytest.mark.parametrize("name", CLASSES)
def test_valid_with_other_sizes_is_refused(name, split):
    other = leave_last_out(make_synthetic(n_users=N_USERS + 3, n_items=N_ITEMS, seed=2)).valid
    with pytest.raises(ValueError, match=r"valid has 43 users and 30 items but train has 40 and 30; pass parts of "
                                         r"the same split"):
        build(name).fit(split.train, valid=other)


@pytest.mark.parametrize("name", CLASSES)
def test_valid_with_other_ids_is_refused(name, split):
    # same sizes, but user index 0 is another person: raw ids 1000.. instead of 0..
    ids = np.asarray(split.valid.user_ids) + 1000
    users = None if split.valid.users is None else split.valid.users.assign(user_id=ids)
    other = dataclasses.replace(split.valid, user_ids=ids, users=users)
    with pytest.raises(ValueError, match=r"user index 0 is user_id 1000 in valid but 0 in train; pass parts of the same"):
        build(name).fit(split.train, valid=other)


def test_valid_of_another_type_is_a_type_error(split):
    with pytest.raises(TypeError, match="valid must be an Interactions"):
        models.BPR().fit(split.train, valid=split.valid.ratings)


# ------------------------------------------------------------------------------ numpy integers
@pytest.mark.parametrize("name", CLASSES)
def test_numpy_int_parameters_mean_the_same_ints(name, split, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = build(name, int).fit(split.train, valid=split.valid)
        numpy = build(name, np.int64).fit(split.train, valid=split.valid)
    users = np.arange(N_USERS)
    np.testing.assert_array_equal(numpy.score(users), plain.score(users))  # np.int64(4) is the number 4
    items, _ = numpy.recommend(users, k=np.int64(3))
    assert items.shape == (N_USERS, 3)
    if name not in ("Hybrid", "FeatureUsers", "Rerank"):  # wrappers are saved model by model
        loaded = type(numpy).load(numpy.save(tmp_path / "m.npz"))
        np.testing.assert_array_equal(loaded.score(users), plain.score(users))


# ------------------------------------------------------------------------------ empty requests
@pytest.mark.parametrize("name", CLASSES)
def test_no_users_give_empty_arrays(name, fitted):
    model = fitted[name]
    for users in ([], np.array([], dtype=np.int64), np.zeros(0)):
        scores = model.score(users)
        assert scores.shape == (0, N_ITEMS) and scores.dtype == np.float32
        items, top = model.recommend(users, k=4)
        assert items.shape == top.shape == (0, 4) and items.dtype == np.int64 and top.dtype == np.float32
    with pytest.raises(ValueError, match="k=0 must be an int"):
        model.recommend([], k=0)  # k is still checked


# ------------------------------------------------------------------------------ damaged model files
SAVEABLE = [name for name in CLASSES if name not in ("Hybrid", "FeatureUsers", "Rerank")]


def _rewrite(src, dst, change):
    """Copy the .npz at ``src`` to ``dst`` after ``change(meta, arrays)`` edits its content."""
    with np.load(src, allow_pickle=False) as f:
        meta = json.loads(str(f["__meta__"]))
        arrays = {k: f[k] for k in f.files if k != "__meta__"}
    change(meta, arrays)
    with open(dst, "wb") as out:
        np.savez(out, __meta__=np.array(json.dumps(meta)), **arrays)
    return dst


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    return {name: fitted[name].save(folder / f"{name}.npz") for name in SAVEABLE}


@pytest.mark.parametrize("name", SAVEABLE)
def test_truncated_file_is_refused_by_path(name, saved, tmp_path):
    bad = tmp_path / "half.npz"
    bad.write_bytes(saved[name].read_bytes()[: saved[name].stat().st_size // 2])
    with pytest.raises(ValueError, match=r"half\.npz is truncated or not a reclab model file .*save the model again"):
        getattr(models, name).load(bad)


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 100, b"PK\x03\x04" + bytes(range(256)) * 4])
def test_random_bytes_are_refused_by_path(content, tmp_path):
    bad = tmp_path / "noise.npz"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=r"noise\.npz (is truncated or )?(is )?not a reclab model file"):
        models.EASE.load(bad)


def test_npz_and_npy_not_written_by_save_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", weights=np.ones(3))
    with pytest.raises(ValueError, match=r"plain\.npz is an \.npz file, but not one written by Recommender\.save"):
        models.BPR.load(tmp_path / "plain.npz")
    np.save(tmp_path / "one.npy", np.ones(3))
    with pytest.raises(ValueError, match=r"one\.npy is truncated or not a reclab model file"):
        models.BPR.load(tmp_path / "one.npy")


@pytest.mark.parametrize("name", SAVEABLE)
def test_file_of_another_class_is_refused(name, saved):
    other = "EASE" if name != "EASE" else "Popularity"
    with pytest.raises(ValueError, match=rf"holds a {name} model; load it with {name}\.load\(path\)"):
        getattr(models, other).load(saved[name])


@pytest.mark.parametrize("name", [n for n in SAVEABLE if getattr(models, n)._state])
def test_missing_array_is_refused_by_name(name, saved, tmp_path):
    first = getattr(models, name)._state[0]

    def drop(meta, arrays):
        for key in [k for k in arrays if k == first or k.startswith((first + ".", first + "/"))]:
            del arrays[key]
        meta["scalars"].pop(first, None)

    bad = _rewrite(saved[name], tmp_path / "missing.npz", drop)
    with pytest.raises(ValueError, match=rf"missing\.npz lacks the learned state \['{first}'\] of a {name}"):
        getattr(models, name).load(bad)


@pytest.mark.parametrize("name", [n for n in SAVEABLE if getattr(models, n)._state])
def test_wrong_shape_is_refused_by_name(name, saved, tmp_path):
    grown = {}

    def grow(meta, arrays):  # one extra row in the biggest learned array (a torch tensor, a dense or a sparse one)
        dense = [k for k in arrays if not k.startswith("train_.") and not k.endswith((".data", ".indices", ".indptr"))
                 and arrays[k].ndim]
        if dense:
            key = max(dense, key=lambda k: arrays[k].size)
            arrays[key] = np.concatenate([arrays[key], arrays[key][:1]])
            grown["name"] = key.split("/")[0]
        else:  # only sparse arrays (kNN): claim one more row
            key = next(k for k in meta["scalars"] if k.endswith(".shape"))
            meta["scalars"][key][0] += 1
            grown["name"] = key.split(".")[0]

    bad = _rewrite(saved[name], tmp_path / "shape.npz", grow)
    pattern = (r"shape\.npz: the saved network does not match a " + name if grown["name"] == "net_"
               else rf"shape\.npz: (history_offsets_ .* do not index the|the sparse array {grown['name']} is damaged|"
                    rf"array {grown['name']} has shape \([\d, ]+\), but this {name} with 40 users and 30 items needs)")
    with pytest.raises(ValueError, match=pattern):
        getattr(models, name).load(bad)


def test_a_good_file_still_loads_and_missing_file_is_file_not_found(saved, fitted, tmp_path):
    loaded = models.SASRec.load(saved["SASRec"])
    np.testing.assert_array_equal(loaded.score([0, 1]), fitted["SASRec"].score([0, 1]))
    with pytest.raises(FileNotFoundError):
        models.SASRec.load(tmp_path / "nothing-here.npz")


# ------------------------------------------------------------------------------ embedding cache
class CountingEncoder:
    """Stands in for MiniLM: text j → a unit vector along axis (len(text) % 4)."""

    def __init__(self):
        self.calls = 0

    def encode(self, texts, **kwargs):
        self.calls += 1
        return np.eye(4, dtype=np.float32)[[len(t) % 4 for t in texts]]


TEXTS = ["a", "bb", "ccc"]
EXPECTED = np.eye(4, dtype=np.float32)[[1, 2, 3]]


def test_a_good_cache_is_read_without_encoding(tmp_path):
    encoder = CountingEncoder()
    np.testing.assert_array_equal(embed_texts(TEXTS, cache_dir=tmp_path, model=encoder, name="fake"), EXPECTED)
    np.testing.assert_array_equal(embed_texts(TEXTS, cache_dir=tmp_path, model=encoder, name="fake"), EXPECTED)
    assert encoder.calls == 1


@pytest.mark.parametrize("damage, why", [
    (lambda path: np.save(path, np.zeros((2, 4), np.float32)), r"shape \(2, 4\), not \(3, dim\) for 3 texts"),
    (lambda path: np.save(path, np.zeros(12, np.float32)), r"shape \(12,\)"),
    (lambda path: np.save(path, np.full((3, 4), np.nan, np.float32)), "not all finite float32"),
    (lambda path: path.write_bytes(path.read_bytes()[:40]), "cannot be read"),
])
def test_a_damaged_cache_is_rebuilt_with_a_warning(damage, why, tmp_path):
    encoder = CountingEncoder()
    embed_texts(TEXTS, cache_dir=tmp_path, model=encoder, name="fake")
    path = embedding_cache_path(TEXTS, "fake", tmp_path)
    assert path.suffix == ".npy"  # so np.save writes to this very path
    damage(path)
    with pytest.warns(UserWarning, match=rf"embedding cache .*{why}.*encoding the texts again"):
        vectors = embed_texts(TEXTS, cache_dir=tmp_path, model=encoder, name="fake")
    np.testing.assert_array_equal(vectors, EXPECTED)
    assert encoder.calls == 2
    np.testing.assert_array_equal(np.load(path), EXPECTED)  # the file is whole again


def test_vectors_encoded_with_other_cpu_kernels_are_not_read_back(tmp_path, monkeypatch):
    # the cache of an unpinned (AVX-512) run was read by a run pinned to AVX2: its last digits differed
    encoder = CountingEncoder()
    embed_texts(TEXTS, cache_dir=tmp_path, model=encoder, name="fake")
    embed_texts(TEXTS, cache_dir=tmp_path, model=encoder, name="fake")
    assert encoder.calls == 1  # same kernels: read back
    first = embedding_cache_path(TEXTS, "fake", tmp_path)
    monkeypatch.setenv("MKL_CBWR", "SOMETHING-ELSE")
    assert embedding_cache_path(TEXTS, "fake", tmp_path) != first
    embed_texts(TEXTS, cache_dir=tmp_path, model=encoder, name="fake")
    assert encoder.calls == 2 and first.is_file()  # encoded again; the other file is left as it was
