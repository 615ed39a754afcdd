"""The shared training loop: repeatability, resume, early stopping, guards, checkpoints, clipping."""
import io
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from reclab.train import History, fit_net, validation_ndcg


class Tiny(torch.nn.Module):
    """A small regression net with dropout, so the torch random state matters."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                          torch.nn.Linear(16, 1))

    def loss(self, batch):
        return torch.nn.functional.mse_loss(self.layers(batch["x"]).squeeze(-1), batch["y"])


_X = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
_Y = _X @ torch.tensor([1.0, -2.0, 0.5, 0.0])


def batches(rng):
    order = torch.from_numpy(rng.permutation(len(_X)))
    for start in range(0, len(_X), 16):
        idx = order[start: start + 16]
        yield {"x": _X[idx], "y": _Y[idx]}


def weights(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def train(**kwargs):
    net = Tiny()
    history = fit_net(net, batches, progress=False, device="cpu", **kwargs)
    return net, history


def test_same_seed_same_weights_and_other_seed_differs():
    a, ha = train(n_epochs=3, seed=5)
    b, hb = train(n_epochs=3, seed=5)
    c, _ = train(n_epochs=3, seed=6)
    assert same(weights(a), weights(b))
    assert ha.frame["loss"].tolist() == hb.frame["loss"].tolist()
    assert not same(weights(a), weights(c))


def test_training_reduces_the_loss():
    _, history = train(n_epochs=20, lr=1e-2)
    assert history.frame["loss"].iloc[-1] < 0.5 * history.frame["loss"].iloc[0]
    assert list(history.frame["epoch"]) == list(range(1, 21))


def test_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    metric = lambda net: -float(net.loss({"x": _X, "y": _Y}))  # noqa: E731 — deterministic in eval mode
    full, h_full = train(n_epochs=4, validate=metric)
    ckpt = tmp_path / "run.pt"
    train(n_epochs=2, validate=metric, checkpoint=ckpt)
    resumed, h_res = train(n_epochs=4, validate=metric, checkpoint=ckpt, resume=True)
    assert same(weights(full), weights(resumed))
    assert h_full.frame["loss"].tolist() == h_res.frame["loss"].tolist()
    assert h_full.frame["valid"].tolist() == h_res.frame["valid"].tolist()
    assert (h_full.best_epoch, h_full.best_value) == (h_res.best_epoch, h_res.best_value)


def test_early_stopping_restores_the_best_weights():
    script = iter([0.1, 0.5, 0.3, 0.2, 0.9, 0.9])
    net, history = train(n_epochs=6, validate=lambda net: next(script), patience=2)
    assert history.best_epoch == 2 and history.best_value == 0.5
    assert history.stopped_early and len(history.frame) == 4  # epochs 3 and 4 did not improve
    # reference: the same run stopped by hand after epoch 2 (validation draws no random numbers)
    reference, _ = train(n_epochs=2)
    assert same(weights(net), weights(reference))


def test_without_validate_the_last_weights_are_kept():
    net, history = train(n_epochs=3)
    reference, _ = train(n_epochs=3)
    assert history.best_epoch is None and history.frame["valid"].isna().all()
    assert same(weights(net), weights(reference))


class Exploding(Tiny):
    def loss(self, batch):
        self.calls = getattr(self, "calls", 0) + 1
        loss = super().loss(batch)
        return loss * float("nan") if self.calls == 10 else loss  # epoch 3 (4 batches per epoch), batch 1


def test_nan_loss_names_the_epoch_and_batch():
    with pytest.raises(FloatingPointError, match="epoch 3, batch 1"):
        fit_net(Exploding(), batches, n_epochs=5, progress=False, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_asked_for_on_a_cpu_machine_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        fit_net(Tiny(), batches, n_epochs=1, device="cuda", progress=False)


def test_checkpoint_loads_with_weights_only(tmp_path):
    ckpt = tmp_path / "run.pt"
    net, _ = train(n_epochs=2, checkpoint=ckpt, validate=lambda net: 1.0)
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 2 and state["best_epoch"] == 1
    assert same(state["best_net"], weights(net))  # the net ends with the best weights (epoch 1) ...
    assert not same(state["net"], weights(net))  # ... while the file also holds the last ones, to resume from
    assert set(state["net"]) == set(net.state_dict())
    assert not (tmp_path / "run.pt.tmp").exists()


class Steep(torch.nn.Module):
    """loss = 1000 * sum(w): the gradient is 1000 everywhere, norm 1000 * sqrt(8)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(8))

    def loss(self, batch):
        return 1000 * self.w.sum() * batch["one"].sum()


def test_clipping_bounds_the_gradient_norm():
    one = lambda rng: [{"one": torch.ones(1)}]  # noqa: E731
    clipped, free = Steep(), Steep()
    fit_net(clipped, one, n_epochs=1, clip=1.0, progress=False, device="cpu")
    fit_net(free, one, n_epochs=1, clip=None, progress=False, device="cpu")
    # the gradient of the last step stays on the parameters
    assert clipped.w.grad.norm().item() == pytest.approx(1.0, rel=1e-5)
    assert free.w.grad.norm().item() == pytest.approx(1000 * np.sqrt(8), rel=1e-5)


class Quadratic(torch.nn.Module):
    """loss = ½‖w − target‖² summed over the batch's rows: the gradient is known in closed form."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
        self.frozen = torch.nn.Parameter(torch.tensor([3.0]), requires_grad=False)

    def loss(self, batch):
        return 0.5 * (self.w - batch["target"]).square().sum() + 0.0 * self.frozen.sum()


@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_sgd_steps_are_the_textbook_update(decay):
    target = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    net, lr, w = Quadratic(), 0.1, np.array([1.0, -1.0])
    fit_net(net, lambda rng: [{"target": target}], n_epochs=3, lr=lr, weight_decay=decay, optimizer="sgd",
            clip=None, progress=False, device="cpu")
    for _ in range(3):  # gradient of the summed loss: Σ_rows (w − t) = 2w − Σt, plus decay·w (L2)
        w = w - lr * (2 * w - target.numpy().sum(0) + decay * w)
    np.testing.assert_allclose(net.w.detach().numpy(), w, rtol=1e-5, atol=1e-6)
    assert net.frozen.item() == 3.0  # a parameter with requires_grad=False is left alone


def test_adam_first_step_moves_each_weight_by_lr():
    # Adam's first bias-corrected step is lr · g / (|g| + eps): every weight moves by lr against its gradient's sign
    net = Quadratic()
    fit_net(net, lambda rng: [{"target": torch.tensor([[2.0, -3.0]])}], n_epochs=1, lr=0.01, optimizer="adam",
            clip=None, progress=False, device="cpu")
    np.testing.assert_allclose(net.w.detach().numpy(), [1.01, -1.01], rtol=1e-5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        fit_net(Tiny(), batches, n_epochs=1, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="patience"):
        fit_net(Tiny(), batches, n_epochs=2, patience=2, progress=False)
    with pytest.raises(ValueError, match="n_epochs"):
        fit_net(Tiny(), batches, n_epochs=0, progress=False)
    with pytest.raises(ValueError, match="resume"):
        fit_net(Tiny(), batches, n_epochs=1, resume=True, progress=False)
    with pytest.raises(TypeError, match="loss"):
        fit_net(torch.nn.Linear(2, 2), batches, n_epochs=1, progress=False)
    with pytest.raises(ValueError, match="no batch"):
        fit_net(Tiny(), lambda rng: [], n_epochs=1, progress=False, device="cpu")


def test_history_plot_has_title_and_labels():
    _, history = train(n_epochs=3, validate=lambda net: 0.5)
    ax = history.plot()
    assert isinstance(history, History)
    assert ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel()


def test_validation_ndcg_matches_a_hand_count():
    from reclab.data import Interactions
    import pandas as pd

    def frame(rows, names=("user", "item")):
        return pd.DataFrame(rows, columns=[*names, "rating", "timestamp"])

    train_ = Interactions.from_frames(frame([(0, 0, 5, 0), (1, 1, 5, 0), (1, 3, 5, 0)], ("user_id", "item_id")),
                                      items=pd.DataFrame({"item_id": [0, 1, 2, 3]}))
    valid = train_.with_ratings(frame([(0, 2, 5, 1), (1, 2, 5, 1)]))

    class Fixed:  # user 0 ranks item 2 first (NDCG 1); user 1 ranks it second (after seen 3 is masked): 1/log2(3)
        def score(self, users):
            return np.array([[0.0, 0.1, 0.9, 0.2], [0.7, 0.0, 0.5, 0.9]])[users]

    expected = (1.0 + 1.0 / np.log2(3)) / 2
    assert validation_ndcg(Fixed(), train_, valid, k=2) == pytest.approx(expected)


def test_validate_runs_in_eval_mode_without_gradients():
    seen = []
    train(n_epochs=2, validate=lambda net: seen.append((net.training, torch.is_grad_enabled())) or 0.0)
    assert seen == [(False, False), (False, False)]


# ------------------------------------------------------------------------------ checkpoints under bad input
def _checkpoint(tmp_path, epochs=2, **kwargs):
    ckpt = tmp_path / "run.pt"
    train(n_epochs=epochs, checkpoint=ckpt, **kwargs)
    return ckpt


@pytest.mark.parametrize("change, message", [
    (dict(lr=1e-2), r"lr=0\.001, but this call has lr=0\.01.*Pass lr=0\.001 to continue"),
    (dict(optimizer="sgd"), r"optimizer='adamw', but this call has optimizer='sgd'"),
    (dict(weight_decay=0.1), r"weight_decay=0\.0, but this call has weight_decay=0\.1"),
    (dict(seed=np.int64(3)), r"seed=0, but this call has seed=3"),
    (dict(clip=None), r"clip=1\.0, but this call has clip=None"),
])
def test_resume_with_other_settings_is_refused(tmp_path, change, message):
    ckpt = _checkpoint(tmp_path)
    with pytest.raises(ValueError, match=rf"checkpoint .*run\.pt was written with {message}"):
        train(n_epochs=4, checkpoint=ckpt, resume=True, **change)


def test_resume_with_fewer_epochs_than_done_is_refused(tmp_path):
    ckpt = _checkpoint(tmp_path, epochs=3)
    with pytest.raises(ValueError, match=r"run\.pt has already trained 3 epochs, but n_epochs=2; .*n_epochs>=3"):
        train(n_epochs=2, checkpoint=ckpt, resume=True)
    net, history = train(n_epochs=3, checkpoint=ckpt, resume=True)  # exactly as many: nothing left to do
    assert history.frame["epoch"].tolist() == [1, 2, 3]


class Wider(Tiny):
    def __init__(self):
        super().__init__()
        self.layers[0] = torch.nn.Linear(4, 32)
        self.layers[3] = torch.nn.Linear(32, 1)


def test_checkpoint_of_another_net_is_refused(tmp_path):
    ckpt = _checkpoint(tmp_path)
    with pytest.raises(ValueError, match=r"run\.pt holds another net: layers\.0\.weight is \(16, 4\) there and \(32, 4\) here"):
        fit_net(Wider(), batches, n_epochs=3, checkpoint=ckpt, resume=True, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"holds another net: layers\.0\.bias is \(16,\) there and missing here \(5 tensor"):
        fit_net(Steep(), batches, n_epochs=3, checkpoint=ckpt, resume=True, progress=False, device="cpu")


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "state_dict", "folder"])
def test_unreadable_or_foreign_checkpoint_is_refused_by_path(tmp_path, damage):
    ckpt = _checkpoint(tmp_path)
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    elif damage == "random":
        ckpt.write_bytes(np.random.default_rng(0).bytes(3000))
    elif damage == "empty":
        ckpt.write_bytes(b"")
    elif damage == "state_dict":  # a torch file, but only weights
        torch.save(Tiny().state_dict(), ckpt)
    else:
        ckpt.unlink()
        ckpt.mkdir()
    expected = (r"run\.pt is a torch file but not a fit_net checkpoint \(it lacks \['epoch'" if damage == "state_dict"
                else r"checkpoint .*run\.pt cannot be read as a fit_net checkpoint .*new checkpoint path")
    with pytest.raises(ValueError, match=expected):
        train(n_epochs=3, checkpoint=ckpt, resume=True)


def test_checkpoint_of_an_older_reclab_resumes_with_a_warning(tmp_path):
    ckpt = _checkpoint(tmp_path)
    state = torch.load(ckpt, weights_only=True)
    del state["settings"]  # what the previous version wrote
    torch.save(state, ckpt)
    with pytest.warns(UserWarning, match=r"written by an older reclab and does not record its settings"):
        _, history = train(n_epochs=3, checkpoint=ckpt, resume=True)
    assert history.frame["epoch"].tolist() == [1, 2, 3]


# ------------------------------------------------------------------------------ two threads, as CI runs
def test_row_gather_gradient_sums_in_index_order_on_two_threads(two_threads):
    from reclab.models.mf import _rows

    rng = np.random.default_rng(0)
    index = rng.integers(0, 50, 20_000)  # many repeats per row
    upstream = rng.standard_normal((20_000, 8)).astype(np.float32)
    expected = np.zeros((50, 8), np.float32)
    np.add.at(expected, index, upstream)  # float32, one addition after another in index order
    table = torch.zeros(50, 8, requires_grad=True)
    for _ in range(5):
        table.grad = None
        (_rows(table, torch.from_numpy(index)) * torch.from_numpy(upstream)).sum().backward()
        np.testing.assert_array_equal(table.grad.numpy(), expected)


def _mf_weights(cls, threads, **kwargs):
    from reclab.data import leave_last_out, make_synthetic

    torch.set_num_threads(threads)
    split = leave_last_out(make_synthetic(n_users=300, n_items=120, seed=0))
    model = cls(n_epochs=3, device="cpu", **kwargs).fit(split.train)
    return np.concatenate([model.user_factors_.ravel(), model.item_factors_.ravel(), model.item_bias_])


@pytest.mark.parametrize("name, kwargs", [("BPR", dict(batch_size=4096)), ("FunkSVD", dict(optimizer="adam", lr=0.01))])
def test_bpr_and_funksvd_are_bit_identical_on_two_threads(two_threads, name, kwargs):
    from reclab import models

    one = _mf_weights(getattr(models, name), 1, **kwargs)  # one thread: additions in a single order
    for _ in range(3):
        np.testing.assert_array_equal(_mf_weights(getattr(models, name), 2, **kwargs), one)


def test_resume_on_two_threads_ends_like_an_uninterrupted_run(two_threads, tmp_path):
    from reclab.data import make_synthetic
    from reclab.models._sampling import sample_negatives
    from reclab.models.mf import BPRNet

    seen = make_synthetic(n_users=300, n_items=120, seed=0).to_csr("binary")
    coo = seen.tocoo()
    users, pos = torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))

    def bpr_batches(rng):
        neg = torch.from_numpy(sample_negatives(seen, coo.row.astype(np.int64), rng))
        for b in torch.from_numpy(rng.permutation(len(users))).split(4096):
            yield {"user": users[b], "pos": pos[b], "neg": neg[b]}

    def run(n_epochs, **kwargs):
        net = BPRNet(300, 120, 16, generator=torch.Generator().manual_seed(0), reg=0.01)
        fit_net(net, bpr_batches, n_epochs=n_epochs, lr=0.01, optimizer="adam", clip=None, progress=False,
                device="cpu", **kwargs)
        return weights(net)

    full = run(4)
    ckpt = tmp_path / "bpr.pt"
    run(2, checkpoint=ckpt)
    assert same(run(4, checkpoint=ckpt, resume=True), full)


def test_fit_net_leaves_the_global_torch_random_state_alone():
    """A learner's own torch.manual_seed stream continues as if no model had been trained."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2))

        def loss(self, batch):
            return (self.w - torch.rand(2)).square().sum()  # draws from the RNG during training

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit_net(Net(), lambda rng: [{}], n_epochs=3, device="cpu", seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_progress_bar_counts_the_epochs_run_and_ends_full_on_early_stopping(monkeypatch):
    """The bar is told every epoch, and an early stop shrinks its total to the epochs run (not a red, cut-short bar)."""
    import tqdm.auto

    bars = []

    class Recording(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, disable=False, file=io.StringIO(), **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    scores = iter([0.5, 0.6, 0.55, 0.54, 0.9, 0.9])  # best at epoch 2, then two epochs without a better one
    history = fit_net(Tiny(), batches, n_epochs=6, validate=lambda net: next(scores), patience=2, progress=True,
                      device="cpu")
    assert len(history.frame) == 4 and history.best_epoch == 2
    (bar,) = bars
    assert bar.n == bar.total == 4
    assert "valid=0.5400" in str(bar)  # the last epoch's metric in the postfix
