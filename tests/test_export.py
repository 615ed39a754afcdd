"""reclab.export: the torch.export artefact scores as the PyTorch model does; the int8 copy is close."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reclab import evaluate
from reclab.data import leave_last_out, make_synthetic
from reclab.export import ExportedSASRec, export_sasrec, load_sasrec, quantize_dynamic_int8, state_bytes
from reclab.models import Popularity, SASRec
from reclab.models.base import NotFittedError


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    split = leave_last_out(make_synthetic(n_users=80, n_items=50, length=(3, 40), seed=3))
    model = SASRec(n_factors=32, n_blocks=2, max_len=24, n_epochs=3, device="cpu").fit(split.train)
    return model, split


@pytest.fixture(scope="module")
def exported(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "sasrec.pt2"
    export_sasrec(fitted[0], path)
    return load_sasrec(path)


def test_exported_scores_equal_the_model_on_training_histories(fitted, exported):
    model, split = fitted
    sequences = split.train.sequences()
    assert max(map(len, sequences)) > model.max_len > min(map(len, sequences))  # cropped and padded rows
    expected = model.score_sequences(sequences)  # the PyTorch model, eager
    # several batch sizes, so batches of different sizes and cropped lengths all go through the graph
    for batch_size in (1, 7, 256):
        np.testing.assert_allclose(exported.score_sequences(sequences, batch_size=batch_size), expected,
                                   rtol=0, atol=1e-5)


def test_exported_program_takes_every_length_and_batch_size(fitted, exported):
    model, _ = fitted
    rng = np.random.default_rng(0)
    for batch, length in ((1, 1), (1, model.max_len), (5, 2), (33, 17)):
        items = rng.integers(1, model.n_items_ + 1, size=(batch, length))
        items[:, : length // 3] = 0  # some left padding
        with torch.no_grad():
            expected = model.net_.eval().score(torch.from_numpy(items)).numpy()
        np.testing.assert_allclose(exported.score_padded(items), expected, rtol=0, atol=1e-5)


def test_exported_empty_history_is_popularity_and_bad_items_are_refused(fitted, exported):
    model, _ = fitted
    scores = exported.score_sequences([[], [0, 1]])
    np.testing.assert_array_equal(scores[0], model.score_sequences([[]])[0])
    with pytest.raises(KeyError, match="outside the catalogue"):
        exported.score_sequences([[model.n_items_]])
    with pytest.raises(ValueError, match="1-D list of int"):
        exported.score_sequences([[0.5]])


def test_export_returns_the_program_without_a_path(fitted):
    program = export_sasrec(fitted[0])
    assert isinstance(program, torch.export.ExportedProgram)
    assert ExportedSASRec(program).n_items == fitted[0].n_items_


def test_int8_copy_is_close_and_goes_through_recommend_and_evaluate(fitted):
    model, split = fitted
    small = quantize_dynamic_int8(model)
    assert isinstance(small.net_.blocks[0].attn.qkv, torch.ao.nn.quantized.dynamic.Linear)
    assert isinstance(model.net_.blocks[0].attn.qkv, torch.nn.Linear)  # the original is untouched
    sequences = split.train.sequences()
    full, int8 = model.score_sequences(sequences), small.score_sequences(sequences)
    # int8 weights (one scale per tensor) move scores by well under 2% of their spread (0.4% measured)
    assert np.abs(int8 - full).max() < 0.02 * (full.max() - full.min())
    top_full = np.argsort(-full, axis=1)[:, :10]
    top_int8 = np.argsort(-int8, axis=1)[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_full, top_int8)])
    assert overlap >= 0.9  # 0.99 measured
    items, _ = small.recommend([0, 1], k=5)
    assert items.shape == (2, 5)
    assert 0 <= evaluate(small, split, k=10, metrics=("NDCG",))["value"].iloc[0] <= 1
    assert state_bytes(small) < state_bytes(model)


@pytest.mark.parametrize("function", [export_sasrec, quantize_dynamic_int8])
def test_bad_models_are_refused(function, fitted):
    with pytest.raises(ValueError, match="must be a fitted reclab SASRec"):
        function(Popularity().fit(fitted[1].train))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        function(SASRec())


def test_state_bytes_needs_a_net():
    with pytest.raises(ValueError, match="no torch net"):
        state_bytes(Popularity())
    linear = torch.nn.Linear(10, 10)
    assert 4 * 110 < state_bytes(linear) < 4 * 110 + 2000  # 110 float32 numbers and the pickle around them
