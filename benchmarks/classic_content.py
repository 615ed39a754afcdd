"""Content-based and hybrid recommenders on ml-100k (issue: classic recommenders).

Run: python benchmarks/classic_content.py

1. Leave-last-out, test part, full ranking: HR@10, NDCG@10, Coverage@10 and fit seconds for
   Popularity, ContentBased (TF-IDF with and without the `interest` offset, MiniLM), EASE and
   ItemKNN, and hybrids of them. Hybrid weights are chosen on the *validation* part (grid below),
   never on test. MiniLM's fit time is given with an empty cache (encoding 1,682 titles) and warm.
2. Item cold start (`cold_item_split`: 20% of the test items lose all their training history):
   the same models on the users whose held-out item is cold.
Numbers only, nothing asserted; timings depend on the machine and its load.
"""
from __future__ import annotations

import tempfile
import time

import pandas as pd
import torch

from reclab import evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import EASE, ContentBased, Hybrid, ItemKNN, Popularity
from reclab.models.hybrid import cold_item_split

WEIGHTS = (0.05, 0.1, 0.2, 0.3, 0.5)  # share of the content model in a weighted hybrid
METRICS = ("HR", "NDCG", "Coverage")


def timed_fit(model, train):
    start = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - start


def row(name, model, split, seconds=None, part="test"):
    res = evaluate(model, split, 10, part=part, metrics=METRICS).set_index("metric")["value"]
    return {"model": name, "HR@10": res["HR"], "NDCG@10": res["NDCG"], "Coverage@10": res["Coverage"],
            "fit s": seconds}


def best_weight(content, cf, split):
    """The content weight with the best validation NDCG@10 (components fitted already)."""
    scores = {w: row("", Hybrid(models=[content, cf], weights=[w, 1 - w], refit=False).fit(split.train),
                     split, part="valid")["NDCG@10"] for w in WEIGHTS}
    return max(scores, key=scores.get)


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as cache:  # an empty embedding cache, so the first fit encodes
        run(cache)


def run(cache: str):
    split = leave_last_out(load_movielens("100k"))
    rows, fitted = [], {}
    for name, model in [("Popularity", Popularity()), ("ContentBased tfidf, interest=0", ContentBased(interest=0.0)),
                        ("ContentBased tfidf", ContentBased()), ("EASE", EASE()), ("ItemKNN", ItemKNN())]:
        fitted[name], seconds = timed_fit(model, split.train)
        rows.append(row(name, fitted[name], split, seconds))
    _, cold_seconds = timed_fit(ContentBased(encoder="minilm", cache_dir=cache), split.train)
    fitted["minilm"], seconds = timed_fit(ContentBased(encoder="minilm", cache_dir=cache), split.train)
    rows.append(row(f"ContentBased minilm (fit {cold_seconds:.0f} s with an empty cache)", fitted["minilm"],
                    split, seconds))

    content = fitted["ContentBased tfidf"]
    hybrids = {}
    for cf_name in ("EASE", "ItemKNN"):
        for enc, cb in (("tfidf", content), ("minilm", fitted["minilm"])):
            w = best_weight(cb, fitted[cf_name], split)
            components = [ContentBased(encoder=cb.encoder, cache_dir=cache), type(fitted[cf_name])()]
            hybrids[f"Hybrid {enc} {w:g} + {cf_name} {1 - w:g}"] = Hybrid(models=components, weights=[w, 1 - w])
    hybrids["Switching tfidf (<20 items) / EASE"] = Hybrid(models=[ContentBased(), EASE()], how="switching",
                                                            min_history=20)
    for name, model in hybrids.items():
        model, seconds = timed_fit(model, split.train)
        rows.append(row(name, model, split, seconds))
    table = pd.DataFrame(rows).set_index("model")
    print("ml-100k, leave-last-out, test, full ranking (Popularity NDCG@10 reference: 0.0449)")
    print(table.round(4).to_string())

    cold = cold_item_split(split, frac=0.2, seed=0)
    models = {"Popularity": Popularity(), "ContentBased tfidf": ContentBased(),
              "ContentBased minilm": ContentBased(encoder="minilm", cache_dir=cache), "EASE": EASE(),
              "Hybrid tfidf 0.2 + EASE 0.8": Hybrid(models=[ContentBased(), EASE()], weights=[0.2, 0.8])}
    n_users = len(cold.test.ratings)
    print(f"\nitem cold start: {cold.how}; {n_users} test users whose held-out item is cold")
    print(pd.DataFrame([row(n, m.fit(cold.train), cold) for n, m in models.items()])
          .drop(columns="fit s").set_index("model").round(4).to_string())


if __name__ == "__main__":
    main()
