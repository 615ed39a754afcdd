"""Tests for reclab.metrics: slow pure-Python references, hand-worked numbers, ties, bad input."""
from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import reclab.metrics as M

SETTINGS = settings(max_examples=60, deadline=None)


# ----------------------------------------------------------------------------- references
# Written independently of the module: loops over users and positions, sets, no numpy tricks.
def ref_hits(lst, rel, k):
    return [1 if (i >= 0 and i in rel) else 0 for i in lst[:k]]


def ref_precision(lst, rel, k):
    return sum(ref_hits(lst, rel, k)) / k if rel else math.nan


def ref_recall(lst, rel, k, capped=False):
    if not rel:
        return math.nan
    return sum(ref_hits(lst, rel, k)) / (min(k, len(rel)) if capped else len(rel))


def ref_f1(lst, rel, k, capped=False):
    if not rel:
        return math.nan
    p, r = ref_precision(lst, rel, k), ref_recall(lst, rel, k, capped)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def ref_hit_rate(lst, rel, k):
    return (1.0 if any(ref_hits(lst, rel, k)) else 0.0) if rel else math.nan


def ref_ndcg(lst, rel, k):
    if not rel:
        return math.nan
    dcg = sum(h / math.log2(pos + 2) for pos, h in enumerate(ref_hits(lst, rel, k)))
    idcg = sum(1 / math.log2(pos + 2) for pos in range(min(len(rel), k)))
    return dcg / idcg


def ref_mrr(lst, rel, k):
    if not rel:
        return math.nan
    for pos, h in enumerate(ref_hits(lst, rel, k)):
        if h:
            return 1 / (pos + 1)
    return 0.0


def ref_map(lst, rel, k):
    if not rel:
        return math.nan
    total, seen = 0.0, 0
    for pos, h in enumerate(ref_hits(lst, rel, k)):
        if h:
            seen += 1
            total += seen / (pos + 1)
    return total / min(len(rel), k)


def ref_accuracy(lst, rel, k, n_cand):
    if not rel:
        return math.nan
    predicted = {i for i in lst[:k] if i >= 0}
    tp = len(predicted & rel)
    tn = n_cand - len(predicted | rel)
    return (tp + tn) / n_cand


def ref_auc(scores, rel, excl):
    pos = [i for i in range(len(scores)) if i in rel and i not in excl]
    neg = [i for i in range(len(scores)) if i not in rel and i not in excl]
    if not pos or not neg:
        return math.nan
    good = 0.0
    for p in pos:
        for n in neg:
            good += 1.0 if scores[p] > scores[n] else 0.5 if scores[p] == scores[n] else 0.0
    return good / (len(pos) * len(neg))


def ref_top_k(scores, k, excl):
    order = sorted((i for i in range(len(scores)) if i not in excl), key=lambda i: (-scores[i], i))
    items = order[:k] + [-1] * (k - len(order[:k]))
    vals = [scores[i] if i >= 0 else -math.inf for i in items]
    return items, vals


def ref_gini(counts):
    n, total = len(counts), sum(counts)
    if total == 0:
        return math.nan
    mad = sum(abs(a - b) for a in counts for b in counts)
    return mad / (2 * n * total)  # mean absolute difference / (2 * mean)


def ref_novelty(lst, counts, n_users):
    items = [i for i in lst if i >= 0]
    if not items:
        return math.nan
    return sum(-math.log2(max(counts[i], 1) / n_users) for i in items) / len(items)


def ref_diversity(lst, feats):
    items = [i for i in lst if i >= 0]
    dists = []
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            u, v = feats[items[a]], feats[items[b]]
            nu, nv = math.sqrt(sum(x * x for x in u)), math.sqrt(sum(x * x for x in v))
            cos = 0.0 if nu == 0 or nv == 0 else sum(x * y for x, y in zip(u, v)) / (nu * nv)
            dists.append(1 - cos)
    return sum(dists) / len(dists) if dists else math.nan


def to_csr(rel_sets, n_items):
    rows = [r for r, s in enumerate(rel_sets) for _ in s]
    cols = [c for s in rel_sets for c in sorted(s)]
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(rel_sets), n_items))


def close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=1e-9, atol=1e-12, equal_nan=True)


# ----------------------------------------------------------------------------- strategies
@st.composite
def ranking_case(draw):
    """Random lists without repeats (sometimes padded with -1) and relevant sets (some empty)."""
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 15))
    k_max = draw(st.integers(1, 8))
    topk = []
    for _ in range(n_users):
        items = draw(st.permutations(range(n_items)))
        length = draw(st.integers(0, min(k_max, n_items))) if draw(st.booleans()) \
            else min(k_max, n_items)
        topk.append(list(items[:length]) + [-1] * (k_max - length))
    rel = [set(draw(st.lists(st.integers(0, n_items - 1), max_size=n_items))) for _ in range(n_users)]
    k = draw(st.integers(1, k_max))
    return np.array(topk, dtype=np.int64).reshape(n_users, k_max), rel, n_items, k


RANKING = [
    (M.precision_at_k, ref_precision), (M.recall_at_k, ref_recall), (M.f1_at_k, ref_f1),
    (M.hit_rate_at_k, ref_hit_rate), (M.ndcg_at_k, ref_ndcg), (M.mrr_at_k, ref_mrr),
    (M.map_at_k, ref_map),
]


@pytest.mark.parametrize("fn, ref", RANKING, ids=[f.__name__ for f, _ in RANKING])
@SETTINGS
@given(case=ranking_case())
def test_ranking_metrics_match_reference(fn, ref, case):
    topk, rel, n_items, k = case
    expected = [ref(list(row), r, k) for row, r in zip(topk.tolist(), rel)]
    close(fn(topk, to_csr(rel, n_items), k), expected)  # CSR input
    close(fn(topk, [np.array(sorted(r), dtype=int) for r in rel], k), expected)  # list input


@SETTINGS
@given(case=ranking_case())
def test_capped_recall_and_f1_match_reference(case):
    topk, rel, n_items, k = case
    csr = to_csr(rel, n_items)
    close(M.recall_at_k(topk, csr, k, capped=True),
          [ref_recall(list(t), r, k, capped=True) for t, r in zip(topk.tolist(), rel)])
    close(M.f1_at_k(topk, csr, k, capped=True),
          [ref_f1(list(t), r, k, capped=True) for t, r in zip(topk.tolist(), rel)])


@SETTINGS
@given(case=ranking_case(), extra=st.integers(0, 100))
def test_accuracy_at_k_matches_reference(case, extra):
    topk, rel, n_items, k = case
    n_cand = n_items + extra
    close(M.accuracy_at_k(topk, to_csr(rel, n_items), k, n_cand),
          [ref_accuracy(list(t), r, k, n_cand) for t, r in zip(topk.tolist(), rel)])


@SETTINGS
@given(case=ranking_case())
def test_metrics_are_per_user_so_batches_concatenate(case):
    topk, rel, n_items, k = case
    csr = to_csr(rel, n_items)
    whole = M.ndcg_at_k(topk, csr, k)
    cut = len(topk) // 2
    parts = np.concatenate([M.ndcg_at_k(topk[:cut], csr[:cut], k),
                            M.ndcg_at_k(topk[cut:], csr[cut:], k)])
    close(whole, parts)


@st.composite
def score_case(draw):
    """Scores with many ties (small integers), sometimes -inf, and a random exclusion mask."""
    n_users = draw(st.integers(1, 5))
    n_items = draw(st.integers(1, 12))
    values = st.one_of(st.integers(-3, 3).map(float), st.just(-math.inf))
    scores = np.array([[draw(values) for _ in range(n_items)] for _ in range(n_users)])
    excl = np.array([[draw(st.booleans()) for _ in range(n_items)] for _ in range(n_users)])
    if draw(st.booleans()):
        excl[:] = False
    return scores, excl


@SETTINGS
@given(case=score_case(), k=st.integers(1, 14), sparse_mask=st.booleans())
def test_top_k_matches_stable_full_sort(case, k, sparse_mask):
    scores, excl = case
    items, vals = M.top_k(scores, k, exclude=sp.csr_matrix(excl) if sparse_mask else excl)
    assert items.shape == vals.shape == (len(scores), k)
    for u in range(len(scores)):
        ex = {i for i in range(scores.shape[1]) if excl[u, i]}
        ref_items, ref_vals = ref_top_k(list(scores[u]), k, ex)
        assert items[u].tolist() == ref_items
        assert vals[u].tolist() == ref_vals


@SETTINGS
@given(case=score_case(), data=st.data())
def test_auc_matches_brute_force_pair_count(case, data):
    scores, excl = case  # -inf stays in: it ties with other -inf scores like any value
    n_items = scores.shape[1]
    rel = [set(data.draw(st.lists(st.integers(0, n_items - 1), max_size=n_items))) for _ in scores]
    expected = [ref_auc(list(s), r, {i for i in range(len(s)) if e[i]})
                for s, r, e in zip(scores, rel, excl)]
    close(M.auc(scores, to_csr(rel, scores.shape[1]), exclude=excl), expected)
    close(M.auc(scores, [sorted(r) for r in rel], exclude=sp.csr_matrix(excl)), expected)


@st.composite
def list_case(draw):
    n_items = draw(st.integers(1, 12))
    n_users = draw(st.integers(1, 6))
    k = draw(st.integers(1, 6))
    rows = []
    for _ in range(n_users):
        items = list(draw(st.permutations(range(n_items))))[:draw(st.integers(0, min(k, n_items)))]
        rows.append(items + [-1] * (k - len(items)))
    return np.array(rows, dtype=np.int64).reshape(n_users, k), n_items


@SETTINGS
@given(case=list_case())
def test_coverage_and_gini_match_reference(case):
    topk, n_items = case
    counts = [0] * n_items
    for row in topk.tolist():
        for i in row:
            if i >= 0:
                counts[i] += 1
    assert M.coverage(topk, n_items) == pytest.approx(sum(c > 0 for c in counts) / n_items)
    close(M.gini(topk, n_items), ref_gini(counts))


@SETTINGS
@given(case=list_case(), data=st.data())
def test_novelty_matches_reference(case, data):
    topk, n_items = case
    n_users = data.draw(st.integers(1, 20))
    counts = data.draw(st.lists(st.integers(0, n_users), min_size=n_items, max_size=n_items))
    close(M.novelty(topk, np.array(counts), n_users),
          [ref_novelty(row, counts, n_users) for row in topk.tolist()])


@SETTINGS
@given(case=list_case(), data=st.data())
def test_diversity_matches_reference_dense_and_sparse(case, data):
    topk, n_items = case
    d = data.draw(st.integers(1, 5))
    feats = data.draw(st.lists(st.lists(st.integers(-2, 2), min_size=d, max_size=d),
                               min_size=n_items, max_size=n_items))
    expected = [ref_diversity(row, feats) for row in topk.tolist()]
    np.testing.assert_allclose(M.diversity(topk, np.array(feats, float)), expected,
                               atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(M.diversity(topk, sp.csr_matrix(np.array(feats, float))), expected,
                               atol=1e-9, equal_nan=True)


@SETTINGS
@given(pairs=st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=1, max_size=30))
def test_rating_metrics_match_reference(pairs):
    y, p = [a for a, _ in pairs], [b for _, b in pairs]
    n = len(pairs)
    assert M.rmse(y, p) == pytest.approx(math.sqrt(sum((a - b) ** 2 for a, b in pairs) / n))
    assert M.mae(y, p) == pytest.approx(sum(abs(a - b) for a, b in pairs) / n)
    assert M.rating_accuracy(y, p, threshold=1.0) == pytest.approx(
        sum((a >= 1.0) == (b >= 1.0) for a, b in pairs) / n)


# ----------------------------------------------------------------------------- hand-worked
def test_hand_worked_two_relevant_hits_at_ranks_1_and_3():
    topk = np.array([[10, 11, 12, 13]])
    rel = [np.array([10, 12])]  # hits at ranks 1 and 3, two relevant items
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.6309...
    assert M.ndcg_at_k(topk, rel, 3)[0] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert M.ndcg_at_k(topk, rel, 3)[0] == pytest.approx(0.919721, abs=1e-6)
    assert M.precision_at_k(topk, rel, 3)[0] == pytest.approx(2 / 3)
    assert M.precision_at_k(topk, rel, 4)[0] == pytest.approx(0.5)
    assert M.recall_at_k(topk, rel, 1)[0] == pytest.approx(0.5)
    assert M.recall_at_k(topk, rel, 1, capped=True)[0] == pytest.approx(1.0)  # 1 / min(1, 2)
    assert M.f1_at_k(topk, rel, 3)[0] == pytest.approx(0.8)  # P=2/3, R=1 -> 2*(2/3)/(5/3)
    assert M.mrr_at_k(topk, rel, 4)[0] == 1.0
    assert M.map_at_k(topk, rel, 3)[0] == pytest.approx((1 + 2 / 3) / 2)  # P@1=1, P@3=2/3
    assert M.hit_rate_at_k(topk, rel, 1)[0] == 1.0


def test_hand_worked_first_hit_at_rank_3_and_map_capped_by_k():
    topk = np.array([[5, 6, 7], [1, 2, 3]])
    rel = [np.array([7]), np.array([1, 2, 3, 4, 5])]
    assert M.mrr_at_k(topk, rel, 3).tolist() == pytest.approx([1 / 3, 1.0])
    assert M.mrr_at_k(topk, rel, 2).tolist() == pytest.approx([0.0, 1.0])  # no hit in top 2
    # user 1: all 3 relevant, 5 relevant in total -> AP@3 = (1+1+1)/min(5, 3) = 1, nDCG@3 = 1
    assert M.map_at_k(topk, rel, 3)[1] == pytest.approx(1.0)
    assert M.ndcg_at_k(topk, rel, 3)[1] == pytest.approx(1.0)
    assert M.recall_at_k(topk, rel, 3)[1] == pytest.approx(3 / 5)


def test_hand_worked_auc_with_ties_and_exclusion():
    scores = np.array([[0.9, 0.5, 0.5, 0.1, 0.7]])
    # relevant {1, 3}; item 4 excluded; negatives {0, 2}
    # pairs: 1 vs 0 lose, 1 vs 2 tie (1/2), 3 vs 0 lose, 3 vs 2 lose -> 0.5 / 4
    excl = np.array([[False, False, False, False, True]])
    assert M.auc(scores, [[1, 3]], exclude=excl)[0] == pytest.approx(0.125)
    # without exclusion item 4 is a negative: 1 vs 4 lose, 3 vs 4 lose -> 0.5 / 6
    assert M.auc(scores, [[1, 3]])[0] == pytest.approx(0.5 / 6)


def test_accuracy_is_almost_one_even_for_a_useless_ranking():
    rng = np.random.default_rng(0)
    n_items, n_users = 2000, 50
    topk = np.stack([rng.permutation(n_items)[:10] for _ in range(n_users)])
    rel = [rng.choice(n_items, 5, replace=False) for _ in range(n_users)]
    acc = M.accuracy_at_k(topk, rel, 10, n_items)
    assert np.all(acc > 0.99)  # random recommendations, yet "99% accurate"
    assert np.nanmean(M.precision_at_k(topk, rel, 10)) < 0.05


def test_hand_worked_beyond_accuracy():
    topk = np.array([[0, 1], [0, 2]])
    assert M.coverage(topk, 4) == 0.75  # items 0, 1, 2 of 4
    # counts [2, 1, 1, 0] sorted [0, 1, 1, 2]: sum (2i-n-1) x = -3*0 - 1 + 1 + 3*2 = 6; 6/(4*4)
    assert M.gini(topk, 4) == pytest.approx(6 / 16)
    assert M.gini(np.array([[0, 1], [2, 3]]), 4) == 0.0  # perfectly even
    assert M.gini(np.array([[0], [0], [0]]), 4) == pytest.approx(1 - 1 / 4)  # max concentration
    assert M.coverage(topk, 4, k=1) == 0.25
    # novelty with counts [8, 2, 1, 0] of 8 users: item 0 -> 0 bits, 1 -> 2 bits, 2 -> 3 bits
    close(M.novelty(topk, np.array([8, 2, 1, 0]), 8), [1.0, 1.5])
    genres = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    # cos(0,1) = 1/sqrt(2); cos(0,2) = 0
    close(M.diversity(topk, genres), [1 - 1 / math.sqrt(2), 1.0])
    close(M.diversity(np.array([[0, 1, 2]]), genres), [1 - (2 / math.sqrt(2)) / 3])
    close(M.diversity(np.array([[0, -1]]), genres), [math.nan])  # one item: no pair


def test_rating_metrics_hand_worked():
    assert M.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert M.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    assert M.rating_accuracy([5, 3, 4, 1], [4.2, 3.9, 3.5, 2.0]) == 0.75
    assert isinstance(M.rmse([1], [1]), float)


# ----------------------------------------------------------------------------- top_k specifics
def test_top_k_ties_go_to_the_lower_item_index():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    items, vals = M.top_k(scores, 2)
    assert items.tolist() == [[1, 2], [0, 1]]
    assert vals.tolist() == [[3.0, 3.0], [0.0, 0.0]]
    assert M.top_k(scores, 4)[0].tolist() == [[1, 2, 4, 3], [0, 1, 2, 3]]


def test_top_k_exclusion_and_padding():
    scores = np.array([[5.0, 4.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    excl = sp.csr_matrix(np.array([[1, 0, 1, 1], [0, 0, 0, 0]]))
    items, vals = M.top_k(scores, 3, exclude=excl)
    assert items.tolist() == [[1, -1, -1], [3, 2, 1]]
    assert vals[0].tolist() == [4.0, -np.inf, -np.inf]
    items, _ = M.top_k(scores, 6)  # k > n_items pads too
    assert items.tolist() == [[0, 1, 2, 3, -1, -1], [3, 2, 1, 0, -1, -1]]


def test_top_k_keeps_genuine_minus_inf_scores_before_excluded_items():
    scores = np.array([[-np.inf, 1.0, -np.inf, 0.0]])
    items, _ = M.top_k(scores, 4, exclude=np.array([[True, False, False, True]]))
    assert items.tolist() == [[1, 2, -1, -1]]


def test_top_k_accepts_torch_and_float32_and_does_not_modify_input():
    torch = pytest.importorskip("torch")
    scores = torch.tensor([[0.1, 0.9, 0.5]], dtype=torch.float32)
    items, vals = M.top_k(scores, 2)
    assert items.tolist() == [[1, 2]] and vals.dtype == np.float32
    arr = np.array([[0.1, 0.9, 0.5]])
    M.top_k(arr, 2, exclude=np.array([[False, True, False]]))
    assert arr[0, 1] == 0.9


def test_top_k_output_feeds_the_metrics():
    rng = np.random.default_rng(1)
    scores = rng.random((30, 50))
    train = sp.random(30, 50, density=0.2, format="csr", random_state=2)
    test = sp.random(30, 50, density=0.1, format="csr", random_state=3)
    items, _ = M.top_k(scores, 10, exclude=train)
    assert not np.any(train.toarray()[np.arange(30)[:, None], items])
    close(M.ndcg_at_k(items, test, 10),
          [ref_ndcg(row, set(test[u].indices), 10) for u, row in enumerate(items.tolist())])


# ----------------------------------------------------------------------------- undefined and bad input
def test_users_without_relevant_items_get_nan_everywhere():
    topk = np.array([[0, 1], [2, 3]])
    rel = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]]))
    for fn, _ in RANKING:
        out = fn(topk, rel, 2)
        assert not np.isnan(out[0]) and np.isnan(out[1]), fn.__name__
    assert np.isnan(M.accuracy_at_k(topk, rel, 2, 100)[1])
    assert np.isnan(M.auc(np.ones((2, 4)), rel)[1])


def test_relevant_accepts_csr_matrix_csr_array_dense_mask_and_lists_alike():
    topk = np.array([[0, 1, 2], [3, 2, 1]])
    dense = np.array([[0, 1, 0, 1], [0, 0, 0, 0]], dtype=bool)
    forms = [sp.csr_matrix(dense), sp.csr_array(dense), sp.coo_matrix(dense), dense,
             [np.array([1, 3]), np.array([], dtype=int)], ([1, 3], [])]
    for form in forms:
        # user 0: hit at rank 2, two relevant -> (1/log2(3)) / (1 + 1/log2(3)); user 1: none
        close(M.ndcg_at_k(topk, form, 3), [(1 / math.log2(3)) / (1 + 1 / math.log2(3)), math.nan])


def test_explicit_zeros_and_duplicates_in_relevant_are_handled():
    rel = sp.csr_matrix((np.array([1.0, 0.0, 1.0]), np.array([0, 1, 0]), np.array([0, 3])),
                        shape=(1, 4))  # item 0 twice, item 1 an explicit zero
    assert M.recall_at_k(np.array([[0, 1]]), rel, 2)[0] == 1.0
    assert rel.nnz == 3  # the caller's matrix is not modified


@pytest.mark.parametrize("call, words", [
    (lambda: M.precision_at_k(np.array([[0, 1]]), [[0]], 0), ["k", "0"]),
    (lambda: M.precision_at_k(np.array([[0, 1]]), [[0]], 3), ["k", "3", "topk.shape[1]"]),
    (lambda: M.ndcg_at_k(np.array([[0, 1]]), [[0], [1]], 2), ["relevant", "2 users", "1"]),
    (lambda: M.ndcg_at_k(np.array([[0, 9]]), sp.csr_matrix((1, 5)), 2), ["topk", "9", "5"]),
    (lambda: M.ndcg_at_k(np.array([[0, -2]]), [[0]], 2), ["topk", "-2"]),
    (lambda: M.ndcg_at_k(np.array([[1, 1]]), [[0]], 2), ["topk", "repeats"]),
    (lambda: M.ndcg_at_k(np.array([0, 1]), [[0]], 2), ["topk", "2-D"]),
    (lambda: M.ndcg_at_k(np.array([[0.0, 1.0]]), [[0]], 2), ["topk", "integer"]),
    (lambda: M.ndcg_at_k(np.array([[0, 1]]), [[-1]], 2), ["relevant", "-1"]),
    (lambda: M.top_k(np.ones((2, 3)), 0), ["k", "0"]),
    (lambda: M.top_k(np.array([[1.0, np.nan]]), 1), ["scores", "NaN"]),
    (lambda: M.top_k(np.ones((2, 3)), 1, exclude=np.zeros((2, 4), bool)), ["exclude", "(2, 4)"]),
    (lambda: M.auc(np.ones((1, 3)), sp.csr_matrix((1, 4))), ["relevant", "4", "3"]),
    (lambda: M.auc(np.ones((1, 3)), [[5]]), ["relevant", "5"]),
    (lambda: M.accuracy_at_k(np.array([[0, 1]]), [[2]], 2, 2), ["n_candidates"]),
    (lambda: M.rmse([1, 2], [1]), ["y_true", "y_pred", "(2,)", "(1,)"]),
    (lambda: M.mae([1, np.nan], [1, 2]), ["y_true", "NaN"]),
    (lambda: M.rmse([], []), ["empty"]),
    (lambda: M.coverage(np.array([[0, 7]]), 5), ["topk", "7", "n_items=5"]),
    (lambda: M.novelty(np.array([[0]]), np.array([9]), 4), ["item_counts", "n_users"]),
    (lambda: M.diversity(np.array([[0, 3]]), np.eye(2)), ["topk", "3", "n_items=2"]),
])
def test_bad_input_raises_value_error_naming_the_problem(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_relevant_of_the_wrong_type_raises_type_error():
    with pytest.raises(TypeError, match="relevant"):
        M.precision_at_k(np.array([[0]]), {0: [0]}, 1)


def test_docstring_examples_run():
    result = doctest.testmod(M, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0
