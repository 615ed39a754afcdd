"""`evaluate`: the course's evaluation protocol, one vectorised pass over batches of users.

Default protocol: rank the **full catalogue** for each user, scored from what the user has done
before the held-out part (``split.history(part)``: train for validation, train + validation for
test) with those items masked, and score the held-out items; every mean over users comes with a
95% bootstrap interval, and `compare` pairs models user by user.

The sampled mode ranks each user's held-out items among ``sampled`` random negatives instead, as
many papers did. It is here to show why not to: sampled metrics are inconsistent with the full ones
and can even reorder models (Krichene & Rendle, "On Sampled Metrics for Item Recommendation",
KDD 2020).
"""
from __future__ import annotations

import inspect
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import metrics as M
from .data import Interactions, Split
from .stats import bootstrap_ci, paired_test

RANKING = {
    "HR": M.hit_rate_at_k,
    "NDCG": M.ndcg_at_k,
    "MRR": M.mrr_at_k,
    "MAP": M.map_at_k,
    "Precision": M.precision_at_k,
    "Recall": M.recall_at_k,
}
BEYOND = ("Coverage", "Novelty", "Gini", "Diversity")
DEFAULT = ("HR", "NDCG", "MRR", "Precision", "Recall", "MAP", "Coverage")
COLUMNS = ["model", "part", "protocol", "metric", "k", "value", "lo", "hi", "n_users"]


def evaluate(
    model,
    split: Split,
    k: int | Sequence[int] = 10,
    *,
    part: str = "test",
    metrics: Iterable[str] = DEFAULT,
    sampled: int | None = None,
    sampler: str = "uniform",
    exclude_seen: bool = True,
    seed: int = 0,
    batch_size: int = 1024,
    name: str | None = None,
    ci: float | None = 0.95,
    n_boot: int = 1000,
) -> pd.DataFrame:
    """Evaluate a fitted recommender on ``split.valid`` or ``split.test``.

    Parameters
    ----------
    model : a fitted recommender (anything with ``score(users, history=...) -> (n, n_items)``; an
        object whose ``score`` takes only users is scored as it is).
    split : the `Split` the model was trained on (``split.train``).
    k : cut-off(s), e.g. ``10`` or ``(5, 10, 20)``.
    part : "valid" or "test". The model scores each user from ``split.history(part)`` — train
        for "valid", train + valid for "test" — and those items are masked; so one fit serves
        both parts, and no model can see the item it is evaluated on.
    metrics : names among HR, NDCG, MRR, MAP, Precision, Recall, AUC and, for full ranking,
        Coverage, Novelty, Gini, Diversity (genre-based intra-list diversity).
    sampled : None for full ranking; n to rank held-out items among n sampled negatives.
    sampler : "uniform" or "popularity" (negatives drawn in proportion to training counts).
    exclude_seen : mask the user's history (the default; turn off for repeat consumption).
    batch_size : users scored at once; memory is about batch_size × n_items × 4 bytes × 3.
    ci : confidence level of the interval ``[lo, hi]`` given for every value: a percentile
        bootstrap over the evaluated users (`reclab.stats.bootstrap_ci`, ``n_boot`` replicates,
        seeded by ``seed``) of every metric that is a mean over users. Coverage and Gini describe
        the lists as a whole; a resample repeats users and so covers fewer items, which biases
        their bootstrap, so they get no interval (NaN). None leaves every ``lo`` and ``hi`` NaN.

    Returns
    -------
    A tidy DataFrame, one row per (metric, k): model, part, protocol, metric, k, value, lo, hi,
    n_users.
    ``n_users`` counts the users evaluated: those with at least one held-out item that is not in
    their masked history. Relevant items that are masked cannot be recommended and are left out
    of the relevant set (none in MovieLens, which has no repeated ratings).

    Examples
    --------
    >>> evaluate(Popularity().fit(split.train), split, k=10)    # doctest: +SKIP
    """
    rows, _ = _evaluate(model, split, k, part=part, metrics=metrics, sampled=sampled, sampler=sampler,
                        exclude_seen=exclude_seen, seed=seed, batch_size=batch_size, name=name, ci=ci,
                        n_boot=n_boot)
    return pd.DataFrame(rows, columns=COLUMNS)


def _score_fn(model, history: Interactions):
    """``users -> scores`` for ``model``, passing ``history=`` when its ``score`` takes it.

    Every reclab model does; a hand-made object with only ``score(users)`` is scored as it is.
    """
    try:
        params = inspect.signature(model.score).parameters
    except (TypeError, ValueError):
        params = {}
    takes = "history" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return (lambda users: model.score(users, history=history)) if takes else model.score


def _check_ks(k) -> list[int]:
    ks = sorted({k} if np.ndim(k) == 0 else set(k))
    if not ks or any(not isinstance(x, (int, np.integer)) or isinstance(x, bool) or x < 1 for x in ks):
        raise ValueError(f"k={k!r} must be a positive int or a sequence of them, e.g. 10 or (5, 10, 20).")
    return [int(x) for x in ks]


class Evaluator:
    """One held-out part, prepared once: masks, relevant items and users; then any model, any epoch.

    `evaluate` builds one per call; a model's fit builds one for its validation metric and calls
    it every epoch, so the masking and ranking of early stopping are those of the final table.

    Parameters
    ----------
    history : what is known before the held-out part (``split.history(part)``): models score
        from it and, with ``exclude_seen``, its items are masked from the ranking.
    target : the held-out interactions (``split.valid`` or ``split.test``).
    k : cut-off(s).
    metrics : names among HR, NDCG, MRR, MAP, Precision, Recall, AUC, Coverage, Novelty, Gini,
        Diversity.
    train : the training data, for the catalogue statistics (Novelty counts its users per item;
        the popularity sampler its popularity); default ``history``.
    exclude_seen, batch_size : as in `evaluate`.

    Examples
    --------
    >>> valid_ndcg = Evaluator(split.train, split.valid, k=10, metrics=("NDCG",))   # doctest: +SKIP
    >>> valid_ndcg(model)                          # mean NDCG@10 on the validation part   # doctest: +SKIP
    """

    def __init__(self, history: Interactions, target: Interactions, *, k: int | Sequence[int] = 10,
                 metrics: Iterable[str] = ("NDCG",), train: Interactions | None = None,
                 exclude_seen: bool = True, batch_size: int = 1024):
        for name, value in (("history", history), ("target", target)):
            if not isinstance(value, Interactions):
                raise TypeError(f"{name} must be an Interactions (e.g. split.history('test')), got {type(value).__name__}.")
        history.check_same_ids(target, "target")
        self.ks = _check_ks(k)
        self.metrics = list(metrics)
        unknown = [m for m in self.metrics if m not in RANKING and m not in BEYOND and m != "AUC"]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {list(RANKING) + ['AUC'] + list(BEYOND)}.")
        self.n_items = history.n_items
        if max(self.ks) > self.n_items:
            raise ValueError(f"k={max(self.ks)} is larger than the catalogue ({self.n_items} items); "
                             f"use k <= {self.n_items}.")
        if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
            raise ValueError(f"batch_size={batch_size!r} must be a positive int, e.g. 1024.")
        self.history, self.target, self.train = history, target, history if train is None else train
        self.exclude_seen, self.batch_size = exclude_seen, int(batch_size)
        self.mask = history.binary()
        relevant = target.to_csr("binary")
        if exclude_seen:
            relevant = (relevant - relevant.multiply(self.mask)).tocsr()
        relevant.eliminate_zeros()
        self.relevant = relevant
        self.users = np.flatnonzero(np.diff(relevant.indptr) > 0)
        if len(self.users) == 0:
            raise ValueError(f"{target.name} has no held-out item to evaluate (after masking each user's history).")

    def run(self, model, *, sampled: int | None = None, sampler: str = "uniform", seed: int = 0):
        """Score ``model`` on every evaluated user: ``(per_user, topk)``.

        ``per_user`` maps (metric, k) — (metric, None) for AUC — to a (n_users,) array aligned on
        ``self.users`` (NaN where undefined); ``topk`` is the (n_users, max k) array of lists.
        Hits are found once per batch, at the largest k, and every (metric, k) is read off them.
        """
        score = _score_fn(model, self.history)
        ranking = [m for m in self.metrics if m in RANKING]
        kmax = max(self.ks)
        rng = np.random.default_rng(seed)
        popularity = np.asarray(self.train.binary().sum(axis=0)).ravel() + 1.0 if sampled else None
        values = {(m, kk): [] for m in ranking for kk in self.ks}
        auc, lists = [], []
        for start in range(0, len(self.users), self.batch_size):
            batch = self.users[start: start + self.batch_size]
            scores = np.asarray(score(batch), dtype=np.float32)
            rel = self.relevant[batch]
            masked = self.mask[batch].toarray().astype(bool) if self.exclude_seen else np.zeros(scores.shape, bool)
            if sampled is not None:
                masked |= ~_candidates(rel, masked, sampled, sampler, popularity, rng)
            if "AUC" in self.metrics:
                auc.append(M.auc(scores, rel, exclude=masked))
            items, _ = M.top_k(scores, kmax, exclude=masked)
            lists.append(items)
            for key, v in self.from_lists(items, batch).items():
                values[key].append(v)
        per_user = {key: np.concatenate(v) for key, v in values.items()}
        if auc:
            per_user[("AUC", None)] = np.concatenate(auc)
        return per_user, np.concatenate(lists)

    def from_lists(self, items: np.ndarray, users: np.ndarray) -> dict:
        """Per-user ranking metrics ``{(metric, k): (len(users),) array}`` of top lists ``items``
        (len(users), >= max k; -1 for no item) of ``users`` (user indices)."""
        _, hits, n_rel = M._hits(items, self.relevant[users], max(self.ks))
        return {(m, kk): M.FROM_HITS[m](hits[:, :kk], n_rel, kk)
                for m in self.metrics if m in RANKING for kk in self.ks}

    def __call__(self, model, metric: str | None = None, k: int | None = None) -> float:
        """The mean of one metric over the evaluated users (default: the first metric, the first k)."""
        metric = metric or self.metrics[0]
        k = k or self.ks[0]
        if metric not in RANKING:
            raise ValueError(f"metric={metric!r}: an Evaluator called as a function gives a ranking metric "
                             f"({', '.join(RANKING)}); use run() for the others.")
        per_user, _ = self.run(model)
        return float(np.nanmean(per_user[(metric, k)]))


def _evaluate(model, split, k, *, part, metrics, sampled, sampler, exclude_seen, seed, batch_size, name,
              ci, n_boot, evaluator=None):
    """`evaluate`'s work: the table rows and the per-user values behind them.

    The per-user values, ``{(metric, k): (n_users,) array}`` aligned on the evaluated users (NaN
    where a metric is undefined for a user), are what `compare` pairs across models.
    """
    if part not in ("valid", "test"):
        raise ValueError(f"part={part!r} is not supported; use 'valid' or 'test'.")
    if sampled is not None and not (isinstance(sampled, (int, np.integer)) and sampled >= 1):
        raise ValueError(f"sampled={sampled!r} must be None (full ranking) or a positive number of negatives.")
    if sampler not in ("uniform", "popularity"):
        raise ValueError(f"sampler={sampler!r} is not supported; use 'uniform' or 'popularity'.")
    metrics = list(metrics)
    if sampled is not None:
        metrics = [m for m in metrics if m not in BEYOND]  # catalogue metrics need the full ranking
    if evaluator is None:
        evaluator = Evaluator(split.history(part), getattr(split, part), k=k, metrics=metrics, train=split.train,
                              exclude_seen=exclude_seen, batch_size=batch_size)
    ks, users, n_items = evaluator.ks, evaluator.users, evaluator.n_items
    per_user, topk = evaluator.run(model, sampled=sampled, sampler=sampler, seed=seed)

    protocol = "full" if sampled is None else f"sampled ({sampled} {sampler} negatives)"
    label = name or type(model).__name__
    rows, out = [], {}

    def add(metric, kk, value, n):
        rows.append(_row(label, part, protocol, metric, kk, value, n))

    def add_mean(metric, kk, values):
        out[(metric, kk)] = values
        rows.append(_mean_row(label, part, protocol, metric, kk, values, ci=ci, n_boot=n_boot, seed=seed))

    for (m, kk), values in per_user.items():
        if m != "AUC":
            add_mean(m, kk, values)
    if ("AUC", None) in per_user:
        add_mean("AUC", None, per_user[("AUC", None)])
    # novelty's self-information counts the *users* who had each item, not its ratings
    users_per_item = np.asarray(split.train.binary().sum(axis=0)).ravel()
    for kk in ks:
        if "Coverage" in metrics:
            add("Coverage", kk, M.coverage(topk, n_items, kk), len(users))
        if "Gini" in metrics:
            add("Gini", kk, M.gini(topk, n_items, kk), len(users))
        if "Novelty" in metrics:
            add_mean("Novelty", kk, M.novelty(topk, users_per_item, split.train.n_users, kk))
        if "Diversity" in metrics:
            add_mean("Diversity", kk, M.diversity(topk, genre_matrix(split.train), kk))
    return rows, out


def _row(label, part, protocol, metric, k, value, n, lo=np.nan, hi=np.nan) -> dict:
    return {"model": label, "part": part, "protocol": protocol, "metric": metric, "k": k,
            "value": float(value), "lo": float(lo), "hi": float(hi), "n_users": int(n)}


def _mean_row(label, part, protocol, metric, k, values, *, ci, n_boot, seed) -> dict:
    """The row of a mean over users, with its bootstrap interval (NaN bounds when ``ci`` is None)."""
    lo, hi = bootstrap_ci(values, ci=ci, n_boot=n_boot, seed=seed) if ci is not None else (np.nan, np.nan)
    return _row(label, part, protocol, metric, k, np.nanmean(values), np.isfinite(values).sum(), lo, hi)


def _candidates(rel: sp.csr_matrix, masked: np.ndarray, n: int, sampler: str, popularity: np.ndarray, rng):
    """Boolean (batch, n_items): each user's held-out items plus ``n`` sampled negatives.

    Negatives are drawn without replacement among items neither held out nor masked, uniformly
    or in proportion to popularity, with the Gumbel-top-k trick: the n largest of
    ``log(weight) + Gumbel noise`` are a weighted sample without replacement (one vectorised call).
    """
    relevant = rel.toarray().astype(bool)
    keys = rng.gumbel(size=masked.shape)
    if sampler == "popularity":
        keys += np.log(popularity)[None, :]
    keys[relevant | masked] = -np.inf
    negatives, _ = M.top_k(keys, n)
    out = relevant.copy()
    rows = np.repeat(np.arange(len(out)), negatives.shape[1])
    cols = negatives.ravel()
    ok = cols >= 0  # fewer than n items left: take them all
    out[rows[ok], cols[ok]] = True
    return out


def genre_matrix(data: Interactions) -> sp.csr_matrix:
    """One-hot genres (n_items, n_genres) from ``data.items["genres"]``, for diversity."""
    if "genres" not in data.items:
        raise ValueError("Diversity needs item genres: data.items has no 'genres' column; drop 'Diversity'.")
    genres = data.items["genres"]
    names = sorted({g for gs in genres for g in gs})
    col = {g: j for j, g in enumerate(names)}
    rows = [i for i, gs in enumerate(genres) for _ in gs]
    cols = [col[g] for gs in genres for g in gs]
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(genres), len(names)))


def compare(
    models: Mapping[str, object],
    split: Split,
    k: int | Sequence[int] = 10,
    *,
    baseline: str | None = None,
    n_perm: int = 10_000,
    **kwargs,
) -> pd.DataFrame:
    """`evaluate` several fitted models with the same settings; one tidy table.

    Parameters
    ----------
    models : {name: fitted model}.
    split, k, **kwargs : as for `evaluate` (``part``, ``metrics``, ``ci``, ``seed``, ...).
    baseline : the name of one of ``models``. Each other model is then compared with it user by
        user (`reclab.stats.paired_test`): columns ``diff`` (value minus the baseline's), ``diff_lo``
        and ``diff_hi`` (paired bootstrap interval of the difference) and ``p_value`` (two-sided
        sign-flip permutation test, ``n_perm`` flips). Coverage and Gini describe the lists as a
        whole, not users: they get ``diff`` only. The baseline's own rows have diff 0.

    Examples
    --------
    >>> table = compare({"EASE": ease, "SASRec": sasrec}, split, baseline="EASE")   # doctest: +SKIP
    >>> leaderboard(table, intervals=True)                                          # doctest: +SKIP
    """
    if baseline is not None and baseline not in models:
        raise ValueError(f"baseline={baseline!r} is not one of the models {list(models)}; name one of them.")
    if not models:
        raise ValueError("models is empty; pass {name: fitted model, ...}.")
    ks = kwargs.pop("k", k)
    options = {"part": "test", "metrics": DEFAULT, "sampled": None, "sampler": "uniform", "exclude_seen": True,
               "seed": 0, "batch_size": 1024, "ci": 0.95, "n_boot": 1000}
    unknown = set(kwargs) - set(options)
    if unknown:
        raise TypeError(f"compare() got unexpected keyword argument(s) {sorted(unknown)}; "
                        f"it takes evaluate's options {sorted(options)}.")
    options.update(kwargs)
    if options["part"] not in ("valid", "test"):
        raise ValueError(f"part={options['part']!r} is not supported; use 'valid' or 'test'.")
    metrics = [m for m in options["metrics"] if options["sampled"] is None or m not in BEYOND]
    shared = Evaluator(split.history(options["part"]), getattr(split, options["part"]), k=ks, metrics=metrics,
                       train=split.train, exclude_seen=options["exclude_seen"], batch_size=options["batch_size"])
    tables, per_user = [], {}
    for name, model in models.items():
        rows, values = _evaluate(model, split, ks, name=name, evaluator=shared, **options)
        tables.append(pd.DataFrame(rows, columns=COLUMNS))
        per_user[name] = values
    table = pd.concat(tables, ignore_index=True)
    if baseline is None:
        return table
    return _paired(table, per_user, baseline, ci=options["ci"] or 0.95, n_boot=options["n_boot"], n_perm=n_perm,
                   seed=options["seed"])


def _paired(table: pd.DataFrame, per_user: dict, baseline: str, *, ci, n_boot, n_perm, seed) -> pd.DataFrame:
    """``table`` plus diff, diff_lo, diff_hi and p_value of every row against ``baseline``'s (see `compare`)."""
    base = {(m, None if pd.isna(kk) else int(kk)): v
            for m, kk, v in table.loc[table["model"] == baseline, ["metric", "k", "value"]].itertuples(index=False)}
    extra = {"diff": [], "diff_lo": [], "diff_hi": [], "p_value": []}
    for row in table.itertuples(index=False):
        key = (row.metric, None if pd.isna(row.k) else int(row.k))
        ref = per_user[baseline].get(key)
        if row.model == baseline:
            result = {"diff": 0.0, "lo": np.nan, "hi": np.nan, "p_value": np.nan}
        elif ref is None:  # a statistic of whole lists (coverage, Gini): no pairing over users
            result = {"diff": row.value - base[key], "lo": np.nan, "hi": np.nan, "p_value": np.nan}
        else:
            result = paired_test(per_user[row.model][key], ref, ci=ci, n_boot=n_boot, n_perm=n_perm, seed=seed)
        for column, value in zip(extra, ("diff", "lo", "hi", "p_value")):
            extra[column].append(result[value])
    return table.assign(**extra)


def evaluate_lists(
    lists,
    split: Split,
    k: int | Sequence[int] = 10,
    *,
    part: str = "test",
    metrics: Iterable[str] = ("HR", "NDCG", "MRR"),
    exclude_seen: bool = True,
    baseline: str | None = None,
    ci: float | None = 0.95,
    n_boot: int = 1000,
    n_perm: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Evaluate ready-made top lists — a beam search's, an LLM's answer, a service's response — as `evaluate` would.

    Parameters
    ----------
    lists : an int array (n_users, L) of item indices, row u = user u's list best first, ``-1`` for
        "no item"; or ``{name: array}`` to evaluate several on the same users.
    split, k, part, ci, n_boot, seed : as in `evaluate`. Cut-offs beyond L count the missing
        places as misses.
    metrics : ranking metrics among HR, NDCG, MRR, MAP, Precision, Recall.
    exclude_seen : drop the items of ``split.history(part)`` from each list (the rest move up), as
        `evaluate` masks them from a model's ranking; a list that repeats an item keeps its first
        place only.
    baseline : with a dict, the name to pair the others with (columns as in `compare`).

    Examples
    --------
    >>> evaluate_lists(model.generate(np.arange(n_users), k=50).items, split)   # doctest: +SKIP
    """
    named = dict(lists) if isinstance(lists, Mapping) else {"lists": lists}
    if baseline is not None and baseline not in named:
        raise ValueError(f"baseline={baseline!r} is not one of the lists {list(named)}; name one of them.")
    if part not in ("valid", "test"):
        raise ValueError(f"part={part!r} is not supported; use 'valid' or 'test'.")
    metrics = list(metrics)
    if not metrics or any(m not in RANKING for m in metrics):
        raise ValueError(f"metrics={metrics!r}: evaluate_lists gives ranking metrics only ({', '.join(RANKING)}).")
    ev = Evaluator(split.history(part), getattr(split, part), k=k, metrics=metrics, exclude_seen=exclude_seen)
    rows, per_user = [], {}
    for name, items in named.items():
        items = np.asarray(items)
        if items.ndim != 2 or items.shape[0] != split.train.n_users or not np.issubdtype(items.dtype, np.integer):
            raise ValueError(f"lists[{name!r}] must be an int array (n_users={split.train.n_users}, L), got "
                             f"{items.dtype} {items.shape}; row u is user u's list, -1 for no item.")
        if items.size and (items.min() < -1 or items.max() >= ev.n_items):
            raise ValueError(f"lists[{name!r}] holds item {int(items.min() if items.min() < -1 else items.max())}, "
                             f"outside 0..{ev.n_items - 1} (or -1 for no item).")
        top = _clean_lists(items[ev.users], ev.mask[ev.users] if exclude_seen else None, max(ev.ks))
        per_user[name] = ev.from_lists(top, ev.users)
        rows += [_mean_row(name, part, "lists", m, kk, values, ci=ci, n_boot=n_boot, seed=seed)
                 for (m, kk), values in per_user[name].items()]
    table = pd.DataFrame(rows, columns=COLUMNS)
    if baseline is None:
        return table
    return _paired(table, per_user, baseline, ci=ci or 0.95, n_boot=n_boot, n_perm=n_perm, seed=seed)


def _clean_lists(items: np.ndarray, seen: sp.csr_matrix | None, k: int) -> np.ndarray:
    """Lists with seen items and repeats removed, shifted left and cut (or padded with -1) to k."""
    keep = items >= 0
    if seen is not None and items.size:
        keep &= ~np.take_along_axis(seen.toarray().astype(bool), np.where(keep, items, 0), 1)
    for r in range(len(items)):  # repeats: only the first place counts
        _, first = np.unique(items[r], return_index=True)
        repeat = np.ones(items.shape[1], bool)
        repeat[first] = False
        keep[r] &= ~repeat
    order = np.argsort(~keep, axis=1, kind="stable")  # kept places first, in their order
    out = np.where(np.take_along_axis(keep, order, 1), np.take_along_axis(items, order, 1), -1)[:, :k]
    return np.pad(out, ((0, 0), (0, max(0, k - out.shape[1]))), constant_values=-1)


def leaderboard(
    results: pd.DataFrame,
    k: int | None = 10,
    sort_by: str | None = "NDCG",
    *,
    intervals: bool = False,
) -> pd.DataFrame:
    """Wide view of a tidy results table: one row per model, one column per ``metric@k``.

    With ``intervals=True`` each ``metric@k`` column is followed by its interval bounds
    (``metric@k lo``, ``metric@k hi``) and, for a table from ``compare(..., baseline=...)``, by the
    paired p-value against the baseline (``metric@k p``).
    """
    table = results.copy()
    table["column"] = [m if pd.isna(kk) else f"{m}@{int(kk)}" for m, kk in zip(table["metric"], table["k"])]
    if k is not None:
        table = table[table["k"].isna() | (table["k"] == k)]
    wide = table.pivot_table(index="model", columns="column", values="value", sort=False)
    if intervals:
        if "lo" not in table:
            raise ValueError("results has no interval columns (lo, hi); make it with evaluate/compare and ci=0.95.")
        parts = {"lo": "lo", "hi": "hi"}
        if "p_value" in table and table["p_value"].notna().any():
            parts["p_value"] = "p"
        pieces = {suffix: table.pivot_table(index="model", columns="column", values=column, sort=False,
                                            dropna=False).reindex(index=wide.index, columns=wide.columns)
                  for column, suffix in parts.items()}
        columns = {}
        for c in wide.columns:
            columns[c] = wide[c]
            for suffix, piece in pieces.items():
                if piece[c].notna().any():
                    columns[f"{c} {suffix}"] = piece[c]
        wide = pd.DataFrame(columns, index=wide.index)
    key = f"{sort_by}@{k}" if sort_by and k is not None else sort_by
    if key in wide:
        wide = wide.sort_values(key, ascending=False)
    wide.columns.name = None
    return wide


def plot_results(results: pd.DataFrame, metric: str = "NDCG", ax=None):
    """Horizontal bar chart of one metric per model (and per k / protocol when there are several).

    Models are rows, best at the top, so long names stay readable without rotated labels. With one
    bar per model, each bar carries its 95% interval (``lo``, ``hi``) as an error bar.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = results[results["metric"] == metric]
    if data.empty:
        raise ValueError(f"metric={metric!r} is not in results; it has {sorted(results['metric'].unique())}.")
    order = data.groupby("model", sort=False)["value"].max().sort_values(ascending=False).index
    if ax is None:
        _, ax = plt.subplots(figsize=(7, max(2.2, 1.0 + 0.35 * len(order) * max(1, len(data) // len(order)))))
    hue = "protocol" if data["protocol"].nunique() > 1 else ("k" if data["k"].nunique() > 1 else None)
    sns.barplot(data=data, y="model", x="value", hue=hue, order=order, orient="h", ax=ax, errorbar=None)
    if hue is None and "lo" in data and data["lo"].notna().any():  # the 95% interval of each bar
        row = data.set_index("model").loc[order]
        ax.errorbar(row["value"], np.arange(len(row)), xerr=[row["value"] - row["lo"], row["hi"] - row["value"]],
                    fmt="none", ecolor="black", capsize=3, linewidth=1)
    ks = sorted(int(x) for x in data["k"].dropna().unique())
    label = f"{metric}" + (f"@{ks[0]}" if len(ks) == 1 else "")
    ax.set_title(f"{label} on {data['part'].iloc[0]}")
    ax.set_xlabel(label + (" (line: 95% interval)" if hue is None else ""))
    ax.set_ylabel("")
    return ax
