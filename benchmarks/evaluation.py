"""Speed and memory of full-ranking evaluation (issue: evaluation core). Run: python benchmarks/evaluation.py

1. ml-100k, all 943 users x 1,682 items, k up to 100, Popularity: seconds per evaluate() call.
2. A catalogue the size of ml-20m (26,744 rated movies) with 20,000 users and ~2M interactions:
   seconds and peak resident memory of the whole process, batch_size 1024.
Numbers only; nothing here asserts a wall time (the machine is shared and noisy).
"""
from __future__ import annotations

import resource
import time

import numpy as np
import pandas as pd

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, load_movielens
from reclab.models import Popularity


class RandomScores:
    """Scores drawn fresh per batch: the cost of scoring is not what we measure."""

    def __init__(self, n_items, seed=0):
        self.n_items, self.rng = n_items, np.random.default_rng(seed)

    def score(self, users):
        return self.rng.random((len(users), self.n_items), dtype=np.float32)


def timed(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    split = leave_last_out(load_movielens("100k"))
    pop = Popularity().fit(split.train)
    rows = []
    for ks in ((10,), (10, 20, 50, 100)):
        seconds, res = timed(lambda: evaluate(pop, split, ks, metrics=("HR", "NDCG", "MRR", "Precision", "Recall", "MAP")))
        rows.append({"case": f"ml-100k Popularity k={ks}", "users": 943, "items": 1682, "seconds": seconds})
    seconds, _ = timed(lambda: evaluate(RandomScores(1682), split, 100))
    rows.append({"case": "ml-100k random scores k=100", "users": 943, "items": 1682, "seconds": seconds})

    rng = np.random.default_rng(0)
    n_users, n_items, per_user = 20_000, 26_744, 100
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9  # a long tail like MovieLens'
    items = rng.choice(n_items, size=n_users * per_user, p=popularity / popularity.sum())
    frame = pd.DataFrame({"user_id": np.repeat(np.arange(n_users), per_user), "item_id": items,
                          "rating": 4.0, "timestamp": rng.integers(0, 10**9, n_users * per_user)})
    frame = frame.drop_duplicates(["user_id", "item_id"])
    data = Interactions.from_frames(frame, pd.DataFrame({"item_id": np.arange(n_items)}))
    big = leave_last_out(data)
    before = peak_rss_mb()
    seconds, _ = timed(lambda: evaluate(RandomScores(n_items), big, (10, 100), batch_size=1024), repeat=1)
    rows.append({"case": "ml-20m-sized catalogue, random scores, k=(10,100)", "users": n_users, "items": n_items,
                 "seconds": seconds})
    table = pd.DataFrame(rows)
    table["users/second"] = (table["users"] / table["seconds"]).round(0)
    print(table.round(3).to_string(index=False))
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB (before the large evaluation: {before:.0f} MB)")


if __name__ == "__main__":
    main()
