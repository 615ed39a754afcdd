"""Sequence models (GRU4Rec, SASRec, BERT4Rec): they learn a planted Markov chain, score each user
from the history they are given (a new event changes the next item at once), leave the learner's
random state alone, and their pieces agree with independent references (hand-written attention,
torch's MultiheadAttention, an unpacked GRU)."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import BERT4Rec, GRU4Rec, Popularity, SASRec
from reclab.models._sequence import bucket_batches, next_item_loss, pad_left
from reclab.models.bert4rec import BERT4RecNet, mask_batch
from reclab.models.gru4rec import GRU4RecNet
from reclab.models.sasrec import SASRecNet, SelfAttention, attention_mask

SMALL = dict(n_factors=32, max_len=20, n_epochs=40, patience=4, lr=5e-3, batch_size=64)


@pytest.fixture(scope="module")
def chain():
    torch.set_num_threads(1)  # tiny nets: threads only add overhead
    data = make_synthetic(n_users=150, n_items=120, n_clusters=4, length=(10, 20), p_follow=0.95, noise=0.0,
                          seed=3)
    return data, leave_last_out(data)


@pytest.fixture(scope="module")
def fitted(chain):
    _, split = chain
    return {
        "SASRec": SASRec(**SMALL).fit(split.train, valid=split.valid),
        "GRU4Rec": GRU4Rec(**SMALL, n_hidden=32).fit(split.train, valid=split.valid),
        "BERT4Rec": BERT4Rec(**{**SMALL, "lr": 1e-2, "patience": None, "n_epochs": 40, "batch_size": 16}, n_masks=4,
                             mask_prob=0.5, dropout=0.0).fit(split.train, valid=split.valid),
    }


def ndcg(model, split):
    r = evaluate(model, split, k=10, metrics=("NDCG",))
    return float(r["value"].iloc[0])


class CoOccurrence:
    """No-order baseline: items that co-occur with the user's items, whatever the order."""

    def __init__(self, split):
        x = (split.train.to_csr("binary") + split.valid.to_csr("binary")).toarray() > 0
        self.x = x.astype(float)
        self.sim = self.x.T @ self.x
        np.fill_diagonal(self.sim, 0)

    def score(self, users):
        return self.x[users] @ self.sim


@pytest.mark.parametrize("name", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_models_predict_the_chain_successor(chain, fitted, name):
    data, split = chain
    model = fitted[name]
    popularity = ndcg(Popularity().fit(split.train), split)
    no_order = ndcg(CoOccurrence(split), split)
    got = ndcg(model, split)
    assert got > popularity + 0.4 and got > no_order + 0.1, (name, got, popularity, no_order)
    # the first unseen item after each user's full history is the successor of the last item
    users = np.arange(data.n_users)
    successor = data.items["next_item"].to_numpy()[[h[-1] - 1 for h in model._histories(users)]]
    fresh = ~model.seen_[users, successor].A1.astype(bool)  # the chain may have cycled back
    top1, _ = model.recommend(users, k=1)
    assert (top1[fresh, 0] == successor[fresh]).mean() > 0.7


def _time_ordered(ratings: pd.DataFrame, user: int) -> np.ndarray:
    """A user's items by timestamp, file order breaking ties: by hand, not by Interactions.sequences."""
    rows = ratings[ratings["user"] == user].reset_index(drop=True)
    return rows.loc[np.lexsort((rows.index.to_numpy(), rows["timestamp"].to_numpy())), "item"].to_numpy()


@pytest.mark.parametrize("name", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_score_continues_the_history_given(chain, fitted, name):
    _, split = chain
    model, users = fitted[name], np.array([0, 5, 17, 42])
    train = split.train.ratings
    both = pd.concat([train, split.valid.ratings], ignore_index=True)  # valid comes after train
    for history, ratings in ((None, train), (split.train, train), (split.history("test"), both)):
        expected = model.score_sequences([_time_ordered(ratings, u) for u in users])
        np.testing.assert_allclose(model.score(users, history=history), expected, atol=1e-5)
    valid_items = split.valid.to_csr("binary")
    items, _ = model.recommend(users, k=20, history=split.history("test"))
    assert not any(set(items[row]) & set(valid_items[u].indices) for row, u in enumerate(users))  # masked too


@pytest.mark.parametrize("name", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_one_new_event_moves_the_next_item_along_the_chain(chain, fitted, name):
    data, split = chain
    model, successor = fitted[name], data.items["next_item"].to_numpy()
    seen = split.train.to_csr("binary").toarray() > 0
    r = split.train.ratings
    hits, tried = 0, 0
    for user in range(data.n_users):
        # the new event is the chain's next item after the last one; the one after it comes next
        event = successor[_time_ordered(r, user)[-1]]
        then = successor[event]
        if seen[user, event] or seen[user, then]:
            continue  # the chain cycled back into the user's past: recommend would mask it
        row = pd.DataFrame({"user": [user], "item": [event], "rating": [5.0], "timestamp": [r["timestamp"].max() + 1]})
        history = split.train.with_ratings(pd.concat([r, row.astype(r.dtypes)], ignore_index=True))
        before, _ = model.recommend(user, k=1)
        after, _ = model.recommend(user, k=1, history=history)  # no refit: the history is all that changed
        tried += 1
        hits += int(after[0] == then and before[0] != then)
    assert tried >= 30 and hits >= 0.7 * tried, (name, hits, tried)


@pytest.mark.parametrize("make", [lambda: SASRec(n_factors=8, max_len=10), lambda: GRU4Rec(n_factors=8, n_hidden=8),
                                  lambda: BERT4Rec(n_factors=8, max_len=10)], ids=["SASRec", "GRU4Rec", "BERT4Rec"])
def test_fitting_leaves_the_learners_torch_random_state_alone(chain, make):
    _, split = chain
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = make()
    model.n_epochs, model.device = 2, "cpu"
    model.fit(split.train, valid=split.valid).score([0, 1], history=split.history("test"))
    assert torch.equal(torch.rand(3), expected)


def test_numpy_ints_are_accepted_as_sizes(chain):
    _, split = chain
    sizes = dict(n_factors=np.int64(8), max_len=np.int32(10), n_epochs=np.int64(1), batch_size=np.int64(32),
                 patience=np.int64(2), seed=np.int64(1), device="cpu")
    for model in (SASRec(n_blocks=np.int64(1), n_heads=np.int64(2), **sizes),
                  GRU4Rec(n_hidden=np.int64(8), n_layers=np.int16(1), n_negatives=np.int64(5), **sizes),
                  BERT4Rec(n_blocks=np.int64(1), n_heads=np.int32(2), n_masks=np.int64(2), **sizes)):
        model.fit(split.train, valid=split.valid)
        assert np.isfinite(model.score([0, 1], history=split.history("test"))).all()


@pytest.mark.parametrize("name", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_scores_of_a_batch_match_scores_one_at_a_time(fitted, name):
    model = fitted[name]  # scoring sorts a batch by length: the rows must come back in order
    sequences = [np.arange(n) * 7 % 120 for n in (15, 3, 20, 1, 8)]
    alone = np.vstack([model.score_sequences([s]) for s in sequences])
    np.testing.assert_allclose(model.score_sequences(sequences), alone, rtol=1e-5, atol=1e-5)


def test_history_longer_than_max_len_keeps_the_most_recent_items(fitted):
    assert pad_left([np.array([1, 2, 3, 4, 5]), np.array([7])], 3).tolist() == [[3, 4, 5], [0, 0, 7]]
    model = fitted["SASRec"]
    long = np.arange(60) % 40  # longer than max_len = 20
    np.testing.assert_allclose(model.score_sequences([long]), model.score_sequences([long[-20:]]), atol=1e-5)
    assert not np.allclose(model.score_sequences([long]), model.score_sequences([long[-19:]]), atol=1e-4)


def test_training_batches_are_truncated_to_the_most_recent_positions():
    model = SASRec(max_len=4, batch_size=8)
    (batch,) = model._next_item_batches([np.arange(1, 11), np.array([3])])(np.random.default_rng(0))
    assert batch["items"].tolist() == [[6, 7, 8, 9]] and batch["targets"].tolist() == [[7, 8, 9, 10]]  # [3] has no pair


def test_bucket_batches_cover_every_row_once_in_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 100, size=1000)
    batches = bucket_batches(lengths, 50, np.random.default_rng(1), chunk=4)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.5 * np.ptp(lengths)


def test_mask_batch_hides_items_only_at_the_expected_rates():
    items = np.tile([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 7]], (2000, 1))  # (6000, 6)
    inputs, targets = mask_batch(items, 99, mask_prob=0.3, last_prob=0.2, rng=np.random.default_rng(0))
    hidden = inputs == 99
    assert np.array_equal(hidden, targets > 0)  # a target exactly where an item is hidden
    assert np.array_equal(targets[hidden], items[hidden]) and np.array_equal(inputs[~hidden], items[~hidden])
    assert not hidden[items == 0].any() and hidden.any(axis=1).all()  # padding never, every row at least once
    only_last = hidden[1::3, :-1].sum(axis=1) == 0  # full rows: chosen (0.2), or nothing else drawn (0.8 · 0.7⁵)
    assert abs(only_last.mean() - (0.2 + 0.8 * 0.7 ** 5)) < 0.03
    _, targets = mask_batch(items, 99, mask_prob=0.3, last_prob=0.0, rng=np.random.default_rng(1))
    assert abs((targets[1::3, :-1] > 0).mean() - 0.3) < 0.02  # away from the last item: Bernoulli(0.3)


def test_bert4rec_n_masks_repeats_every_sequence_with_fresh_masks():
    model = BERT4Rec(max_len=8, batch_size=4, n_masks=3, mask_prob=0.5)
    model.n_items_ = 20
    sequences = [np.arange(1, 6) + i for i in range(5)]
    batches = list(model._batches(sequences)(np.random.default_rng(0)))
    rows = torch.cat([b["targets"] + b["items"] * (b["targets"] == 0) for b in batches])  # masks filled back in
    got = sorted(tuple(r[r > 0].tolist()) for r in rows)
    assert got == sorted(tuple(s.tolist()) for s in sequences for _ in range(3))
    inputs = [tuple(r.tolist()) for b in batches for r in b["items"]]
    assert len(set(inputs)) > 5  # the copies are masked differently


def test_single_interaction_users_and_empty_histories(chain):
    ratings = pd.DataFrame({"user_id": [0, 0, 0, 1, 2, 2], "item_id": [0, 1, 2, 3, 1, 2],
                            "rating": 5.0, "timestamp": [1, 2, 3, 1, 1, 2]})
    data = Interactions.from_frames(ratings, items=pd.DataFrame({"item_id": range(5)}))
    model = GRU4Rec(n_factors=8, n_hidden=8, n_epochs=2, max_len=5).fit(data)
    assert np.isfinite(model.score([1])).all()  # user 1 has one item: nothing to train on, still scored
    np.testing.assert_allclose(model.score([1]), model.score_sequences([[3]]), atol=1e-6)
    np.testing.assert_array_equal(model.score_sequences([[]])[0], data.item_counts())  # popularity fallback


def test_bad_input_is_named(fitted, chain):
    _, split = chain
    with pytest.raises(KeyError, match="item index 120"):
        fitted["SASRec"].score_sequences([[1, 120]])
    with pytest.raises(KeyError, match="item index -1"):
        fitted["BERT4Rec"].score_sequences([[-1]])
    with pytest.raises(ValueError, match="loss='mse' is not valid: it must be one of 'ce', 'bce'"):
        SASRec(loss="mse").fit(split.train)
    with pytest.raises(ValueError, match="max_len=0 is not valid"):
        GRU4Rec(max_len=0).fit(split.train)
    with pytest.raises(ValueError, match="mask_prob=1.5 is not valid"):
        BERT4Rec(mask_prob=1.5).fit(split.train)
    with pytest.raises(ValueError, match="n_masks=0 is not valid"):
        BERT4Rec(n_masks=0).fit(split.train)
    with pytest.raises(ValueError, match="n_factors=30 is not valid with n_heads=4: it must be divisible"):
        SASRec(n_factors=30, n_heads=4, n_epochs=1).fit(split.train)
    with pytest.raises(ValueError, match="n_factors=30 is not valid with n_heads=4"):
        BERT4Rec(n_factors=30, n_heads=4, n_epochs=1).fit(split.train)
    with pytest.raises(ValueError, match="max_len=1 is not valid"):
        BERT4Rec(max_len=1).fit(split.train)
    with pytest.raises(ValueError, match="dropout=1.0 is not valid"):
        GRU4Rec(dropout=1.0).fit(split.train)
    other = make_synthetic(n_users=20, n_items=30, seed=1)
    with pytest.raises(ValueError, match="same split"):
        SASRec(n_epochs=1).fit(split.train, valid=leave_last_out(other).valid)


@pytest.mark.parametrize("name", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_save_load_round_trip(fitted, tmp_path, name):
    model = fitted[name]
    path = model.save(tmp_path / "model.npz")
    again = type(model).load(path)
    users = np.arange(10)
    np.testing.assert_allclose(again.score(users), model.score(users), atol=1e-6)
    assert again.recommend(3, k=5)[0].tolist() == model.recommend(3, k=5)[0].tolist()


# ---------------------------------------------------------------- the nets against references
def test_self_attention_matches_hand_formula_and_torch_multihead():
    torch.manual_seed(0)
    d, H, L = 8, 2, 5
    attn = SelfAttention(d, H).eval()
    x = torch.randn(3, L, d)
    items = torch.tensor([[0, 0, 4, 5, 6], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9]])
    mask = attention_mask(items, causal=True)
    got, _ = attn(x, mask)
    slow, weights = attn(x, mask, return_weights=True)
    # by hand: per head softmax(Q Kᵀ / √dh + mask) V, heads concatenated, output projection
    q, k, v = (x @ w.T + b for w, b in zip(attn.qkv.weight.split(d), attn.qkv.bias.split(d)))
    heads = []
    for h in range(H):
        s = slice(h * d // H, (h + 1) * d // H)
        scores = q[..., s] @ k[..., s].transpose(1, 2) / math.sqrt(d // H)
        scores = scores.masked_fill(~mask[:, 0], float("-inf"))
        heads.append(torch.softmax(scores, dim=-1) @ v[..., s])
    ref = attn.proj(torch.cat(heads, dim=-1))
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(slow, ref, atol=1e-5, rtol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(3, H, L)) and (weights.triu(1) == 0).all()
    mha = torch.nn.MultiheadAttention(d, H, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.qkv.weight), mha.in_proj_bias.copy_(attn.qkv.bias)
        mha.out_proj.weight.copy_(attn.proj.weight), mha.out_proj.bias.copy_(attn.proj.bias)
    blocked = (~mask[:, 0]).repeat_interleave(H, dim=0)  # MHA: True means "may not attend"
    torch.testing.assert_close(mha(x, x, x, attn_mask=blocked, need_weights=False)[0], ref, atol=1e-5, rtol=1e-5)


def net_for(name):
    torch.manual_seed(0)
    if name == "SASRec":
        return SASRecNet(30, 16, 2, 2, max_len=12, dropout=0.2, loss="ce").eval()
    if name == "GRU4Rec":
        return GRU4RecNet(30, 16, 16, 1, dropout=0.2, n_negatives=None).eval()
    return BERT4RecNet(30, 16, 2, 2, max_len=12, dropout=0.2).eval()


def test_sasrec_is_causal_and_bert4rec_is_not():
    x = torch.tensor([[0, 3, 7, 1, 9, 4, 2]])
    changed = x.clone()
    changed[0, 4] = 11
    for name, causal in (("SASRec", True), ("BERT4Rec", False)):
        net = net_for(name)
        with torch.no_grad():
            a, b = net(x), net(changed)
        assert torch.equal(a[0, 1:4], b[0, 1:4]) == causal, name  # positions before the change
        assert not torch.allclose(a[0, 4:], b[0, 4:])


@pytest.mark.parametrize("name", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_left_padding_does_not_change_predictions(name):
    net = net_for(name)
    seqs = torch.tensor([[5, 6, 7, 8], [0, 0, 3, 31 if name == "BERT4Rec" else 4]])
    padded = torch.cat([torch.zeros(2, 5, dtype=torch.long), seqs], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(net.score(seqs), net.score(padded), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(net(seqs)[:, -2:], net(padded)[:, -2:], atol=1e-5, rtol=1e-5)


def test_gru_on_padded_batches_matches_an_unpadded_gru():
    net = net_for("GRU4Rec")
    batch = torch.tensor([[0, 0, 0, 4, 9], [1, 2, 3, 4, 5], [0, 7, 7, 8, 2]])
    with torch.no_grad():
        got = net(batch)
        for row in range(3):
            seq = batch[row][batch[row] > 0][None]
            h, _ = net.gru(net.item_emb(seq))  # one sequence, no padding, no packing
            torch.testing.assert_close(got[row, -seq.shape[1]:], net.out(h[0]), atol=1e-5, rtol=1e-5)


def test_bert4rec_appends_the_mask_token_at_inference(fitted):
    model = fitted["BERT4Rec"]
    x = model._pad([np.arange(1, 40), np.array([5])])
    assert x.shape == (2, model.max_len) and (x[:, -1] == model.n_items_ + 1).all()
    assert x[0, -2] == 39 and x[1, -2] == 5 and x[1, 0] == 0


def test_full_softmax_loss_matches_log_softmax_by_hand():
    torch.manual_seed(0)
    hidden, items = torch.randn(2, 3, 4), torch.randn(6, 4)
    targets = torch.tensor([[0, 2, 6], [1, 0, 3]])  # 0: no target
    h, y = hidden[targets > 0], targets[targets > 0] - 1
    expected = -torch.stack([torch.log_softmax(items @ hi, 0)[yi] for hi, yi in zip(h, y)]).mean()
    torch.testing.assert_close(next_item_loss(hidden, targets, items), expected)
    assert next_item_loss(hidden, targets, items, "bce").item() > 0
    assert next_item_loss(hidden, targets, items, "ce", n_negatives=3).item() > 0


def test_sasrec_attention_maps_are_causal_distributions(fitted, chain):
    model = fitted["SASRec"]
    items, weights = model.attention_maps(4)
    L = len(items)
    assert L == min(model.max_len, len(model._histories([4])[0]))
    assert weights.shape == (model.n_blocks, model.n_heads, L, L)
    np.testing.assert_allclose(weights.sum(-1), 1, atol=1e-5)
    assert np.all(np.triu(weights, 1) == 0)
    assert len(model.attention_maps([1, 2])) == 2
