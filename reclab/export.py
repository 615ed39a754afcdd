"""Shipping a fitted SASRec: a `torch.export` artefact that scores without reclab's classes, and an
int8 copy whose linear layers are dynamically quantised.

`torch.export` (PyTorch's ahead-of-time graph capture, the successor of TorchScript) turns the
scoring net into an `ExportedProgram`: a graph of ATen operators plus its weights, saved to one
``.pt2`` file with `torch.export.save`. It is chosen over ONNX here because it needs no other
package (ONNX needs ``onnx`` and ``onnxscript`` to export and ``onnxruntime`` to run), the graph
runs the same kernels as eager PyTorch (so the scores agree to the last bit on the CPU), and it
keeps both axes of the input dynamic: any number of users, any history length up to ``max_len``.
ONNX is the choice when the server is not Python (onnxruntime in C++, Java, the browser).

Dynamic quantisation (Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", CVPR 2018; PyTorch's ``quantize_dynamic``) stores each
``nn.Linear`` weight as int8 with one scale per tensor and quantises the activations on the fly,
batch by batch. What stays float32: the item and position embeddings, the layer norms, and the
final dot product of the hidden state with every item embedding. For ml-100k's 1,682 items,
d = 64 and two blocks the embedding tables are two thirds of the weights, so the int8 copy is
only about a fifth smaller (`benchmarks/export.py`); in a real catalogue the table is larger
still. Quantising it too (int8 rows with one scale each, and an int8 dot product) is left out.
"""
from __future__ import annotations

import copy
import io
import os
import warnings

import numpy as np
import torch
from torch import nn

from .models._sequence import crop, pad_left


class _Scorer(nn.Module):
    """SASRec's ``net.score`` plus the popularity fallback for an empty history, as one graph.

    items (B, L) left-padded shifted ids (0 = padding) → scores (B, n_items). A row that is all
    padding gets the training popularity, as `SequenceRecommender.score_sequences` gives it.
    """

    def __init__(self, net: nn.Module, popularity: np.ndarray):
        super().__init__()
        self.net = net
        self.register_buffer("popularity", torch.as_tensor(popularity, dtype=torch.float32)[None, :])  # (1, n_items)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        scores = self.net.score(items)  # (B, n_items)
        known = (items > 0).any(dim=1, keepdim=True)  # (B, 1)
        return torch.where(known, scores, self.popularity)


def _check_sasrec(model, what: str) -> None:
    from .models.sasrec import SASRec

    if not isinstance(model, SASRec):
        raise ValueError(f"model={type(model).__name__} cannot be {what}: it must be a fitted reclab SASRec "
                         "(e.g. SASRec().fit(split.train)).")
    model._fitted("net_")  # NotFittedError: "not fitted yet; call fit(train) first"


def export_sasrec(model, path: str | os.PathLike | None = None) -> torch.export.ExportedProgram:
    """SASRec's scoring net as a `torch.export.ExportedProgram`, saved to ``path`` if given.

    The program maps a left-padded batch of shifted item ids, int64 (B, L) with 1 ≤ L ≤
    ``max_len`` and 0 = padding, to float32 scores (B, n_items); B and L are dynamic. Empty rows
    score the training popularity. The net is copied to the CPU in eval mode (no dropout); the
    model itself is not changed. Load and run it with `load_sasrec`.

    Parameters
    ----------
    model : a fitted `reclab.models.SASRec`.
    path : file to write (conventionally ``*.pt2``), or None to only return the program.

    Examples
    --------
    >>> export_sasrec(SASRec(n_epochs=5).fit(split.train), "sasrec.pt2")   # doctest: +SKIP
    >>> load_sasrec("sasrec.pt2").score_sequences([[3, 7, 1]]).shape        # doctest: +SKIP
    (1, 1682)
    """
    _check_sasrec(model, "exported")
    net = copy.deepcopy(model.net_).cpu().eval()
    scorer = _Scorer(net, model.popularity_).eval()
    max_len = int(model.max_len)
    # an example of size 1 would be specialised to 1 by torch.export, so trace on 2 × 2
    example = torch.ones(2, min(2, max_len), dtype=torch.int64)
    batch = torch.export.Dim("batch", min=1)
    length = torch.export.Dim("length", min=1, max=max_len) if max_len >= 2 else None
    with torch.no_grad():
        program = torch.export.export(scorer, (example,), dynamic_shapes=({0: batch, 1: length},))
    if path is not None:
        torch.export.save(program, os.fspath(path))
    return program


class ExportedSASRec:
    """Scores sequences with an exported SASRec, exactly as `SASRec.score_sequences` does.

    Built from the `ExportedProgram` (or by `load_sasrec` from its file); ``n_items`` and
    ``max_len`` are read from the program's weights. Sequences are left-padded to the longest in
    each batch of similar length (the same batching and cropping as the model's own scoring).
    """

    def __init__(self, program: torch.export.ExportedProgram):
        state = program.state_dict
        if "popularity" not in state or "net.pos_emb.weight" not in state:
            raise ValueError("program is not an export_sasrec program (no 'popularity' or 'net.pos_emb.weight' "
                             "weights); export the model with reclab.export.export_sasrec(model, path).")
        self.program = program
        self.n_items = int(state["popularity"].shape[1])
        self.max_len = int(state["net.pos_emb.weight"].shape[0])
        self._run = program.module()

    def score_padded(self, items: np.ndarray) -> np.ndarray:
        """float32 scores (B, n_items) of int64 shifted ids (B, L), left-padded, 1 ≤ L ≤ max_len."""
        with torch.no_grad():
            return self._run(torch.from_numpy(np.ascontiguousarray(items, np.int64))).numpy()

    def score_sequences(self, sequences, batch_size: int = 256) -> np.ndarray:
        """Scores (len(sequences), n_items) of the next item after each sequence of 0-based item ids."""
        shifted = []
        for seq in sequences:
            seq = np.asarray(seq)
            if seq.ndim != 1 or (len(seq) and not np.issubdtype(seq.dtype, np.integer)):
                raise ValueError(f"each sequence must be a 1-D list of int item indices, got {seq!r}.")
            bad = seq[(seq < 0) | (seq >= self.n_items)]
            if len(bad):
                raise KeyError(f"item index {int(bad[0])} is outside the catalogue: this model knows items "
                               f"0..{self.n_items - 1}.")
            shifted.append(seq.astype(np.int64) + 1)
        out = np.empty((len(shifted), self.n_items), np.float32)
        order = np.argsort([len(s) for s in shifted], kind="stable")
        for start in range(0, len(shifted), batch_size):
            rows = order[start: start + batch_size]
            out[rows] = self.score_padded(crop(pad_left([shifted[i] for i in rows], self.max_len)))
        return out


def load_sasrec(path: str | os.PathLike) -> ExportedSASRec:
    """Load a file written by `export_sasrec` (`torch.export.load`) as an `ExportedSASRec`.

    Examples
    --------
    >>> scores = load_sasrec("sasrec.pt2").score_sequences(split.train.sequences())   # doctest: +SKIP
    """
    return ExportedSASRec(torch.export.load(os.fspath(path)))


def quantize_dynamic_int8(model):
    """A copy of a fitted SASRec whose ``nn.Linear`` layers are int8 (dynamic quantisation), on the CPU.

    The copy keeps the model's contract: `score`, `score_sequences`, `recommend` and
    `reclab.evaluate` work on it. The embeddings, layer norms and the final item dot product stay
    float32 (see the module docstring). PyTorch's quantised kernels run on the CPU only. The copy
    cannot be written with `Recommender.save` (its state holds packed int8 weights); save it with
    ``torch.save(copy.net_.state_dict(), ...)``, or quantise the loaded float model again.

    Examples
    --------
    >>> small = quantize_dynamic_int8(model)                       # doctest: +SKIP
    >>> state_bytes(small) < state_bytes(model)                      # doctest: +SKIP
    True
    """
    _check_sasrec(model, "quantised")
    quantized = copy.deepcopy(model)
    net = quantized.net_.cpu().eval()
    with warnings.catch_warnings():
        # torch.ao.quantization warns that it moves to the torchao package; it still works, and
        # torchao is not a dependency of reclab
        warnings.filterwarnings("ignore", r"torch\.ao\.quantization is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", r".*quantize_per_tensor.*deprecated", UserWarning)
        quantized.net_ = torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)
    return quantized


def state_bytes(model) -> int:
    """Bytes of a model's weights as `torch.save` writes its net's state dict (a fitted torch model or a net).

    Int8 weights count one byte each plus their scale and zero point; the few hundred bytes of
    the pickle's own structure are included, the same way for every model.

    Examples
    --------
    >>> state_bytes(model), state_bytes(quantize_dynamic_int8(model))   # doctest: +SKIP
    """
    net = model if isinstance(model, nn.Module) else getattr(model, "net_", None)
    if not isinstance(net, nn.Module):
        raise ValueError(f"model={type(model).__name__} has no torch net to measure; pass a fitted torch "
                         "recommender (e.g. SASRec().fit(split.train)) or an nn.Module.")
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getbuffer().nbytes
