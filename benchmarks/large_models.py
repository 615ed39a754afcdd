"""Language-model recommenders on ml-100k: warm test and item cold start (notebook 09, issue #11).

    python benchmarks/large_models.py                        # every model
    python benchmarks/large_models.py --models LMZeroShot    # just some (names as in the table)
    python benchmarks/large_models.py --threads 2            # torch threads (default 1)

1. `LMZeroShot`'s one knob, the recency ``half_life`` (in items), chosen on the *validation* part
   (leave-last-out, full ranking, NDCG@10); the chosen value is LMZeroShot's default.
2. Leave-last-out, test part, full ranking: HR@10 and NDCG@10 with 95% bootstrap intervals and
   fit seconds, each model fitted once on ``split.train`` (torch models stop early on
   ``split.valid``) and scored from ``split.history("test")``.
3. Item cold start: ``cold_item_split(split, frac=0.2, seed=0)`` — 20% of the test items lose all
   their training and validation rows; every model is fitted again on that train and evaluated on
   the users whose held-out item is cold ("cold HR@10"). ID-only models cannot rank such an item.
4. Paired tests over users (`reclab.compare`): on the cold split against LMZeroShot and SASRec,
   on the warm test against SASRec (diff = model − baseline).
5. Two rows built on the fitted models: `Rerank` (SASRec's top 50 reordered by LMZeroShot, the
   blend weight chosen on validation NDCG@10) and SemanticIDRec's *generated* lists (constrained
   beam search of width 50, the history's items dropped, `reclab.evaluate_lists`), next to its
   exact full ranking; plus the share of invalid code tuples when the trie is off.

The table is also written to benchmarks/results/large_models.csv, which notebook 09 reads.

Popularity and ID-only SASRec are the references. MiniLM fit times include encoding the titles
only when the embedding cache is empty (the first run). Numbers, not assertions.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from _cli import model_arguments  # benchmarks/_cli.py (scripts run from this folder)
from reclab import compare, evaluate, evaluate_lists
from reclab.data import leave_last_out, load_movielens
from reclab.models import Popularity, Rerank, SASRec, SemanticIDRec
from reclab.models.hybrid import cold_item_split
from reclab.models.lm import LMZeroShot, TextSASRec

OUT = Path(__file__).parent / "results" / "large_models.csv"
# SemanticIDRec: 20 history items (80 code tokens) and a higher learning rate than the class
# defaults, so that it converges in minutes; the settings notebook 09 uses
SEMANTIC = dict(max_len=20, lr=1e-2, beam=50)
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)

MODELS = {
    "Popularity": lambda: Popularity(),
    "LMZeroShot": lambda: LMZeroShot(),
    "SASRec": lambda: SASRec(),
    "TextSASRec (text)": lambda: TextSASRec(with_ids=False),
    "TextSASRec (text+ID)": lambda: TextSASRec(with_ids=True),
    "SemanticIDRec": lambda: SemanticIDRec(**SEMANTIC),
}
HALF_LIVES = (None, 1.0, 3.0, 10.0, 30.0)


def measure(make, split) -> tuple[object, dict]:
    model = make()
    start = time.perf_counter()
    model.fit(split.train, valid=split.valid)
    seconds = time.perf_counter() - start
    return model, row_of(evaluate(model, split, 10, metrics=("HR", "NDCG")), seconds, model)


def row_of(res: pd.DataFrame, seconds: float, model=None) -> dict:
    res = res.set_index("metric")
    row = {"fit s": seconds}
    for metric in ("HR", "NDCG"):
        row |= {f"{metric}@10": res.loc[metric, "value"], f"{metric} lo": res.loc[metric, "lo"],
                f"{metric} hi": res.loc[metric, "hi"]}
    history = getattr(model, "history_", None)
    if history is not None:
        row["best epoch"] = history.best_epoch
    return row


def generated(model: SemanticIDRec, split, constrained: bool = True):
    """SemanticIDRec's beam-search lists for every user, from the test history (n_users, beam)."""
    users = np.arange(split.train.n_users)
    return model.generate(users, k=model.beam, history=split.history("test"), constrained=constrained)


def lists_of(model, split, k: int = 50) -> np.ndarray:
    return model.recommend(np.arange(split.train.n_users), k, history=split.history("test"))[0]


def interval(table: pd.DataFrame, metric: str) -> pd.Series:
    return table.apply(lambda r: f"{r[f'{metric}@10']:.4f} [{r[f'{metric} lo']:.4f}, {r[f'{metric} hi']:.4f}]", axis=1)


def paired(models: dict, split, baseline: str) -> pd.DataFrame:
    table = compare(models, split, 10, metrics=("HR", "NDCG"), baseline=baseline)
    return table.set_index(["model", "metric"])[["value", "diff", "diff_lo", "diff_hi", "p_value"]]


def main() -> None:
    args = model_arguments(__doc__.splitlines()[0], MODELS)
    split = leave_last_out(load_movielens("100k"))
    cold = cold_item_split(split, frac=0.2, seed=0)

    if "LMZeroShot" in args.models:
        print("1. LMZeroShot half_life (items) on validation NDCG@10")
        for half_life in HALF_LIVES:
            model = LMZeroShot(half_life=half_life).fit(split.train)
            ndcg = evaluate(model, split, 10, part="valid", metrics=("NDCG",))["value"].iloc[0]
            print(f"   half_life={half_life}: {ndcg:.4f}", flush=True)

    warm, colds, fitted_warm, fitted_cold = {}, {}, {}, {}
    for name in args.models:
        fitted_warm[name], warm[name] = measure(MODELS[name], split)
        fitted_cold[name], colds[name] = measure(MODELS[name], cold)
        print(f"{name}: NDCG@10 {warm[name]['NDCG@10']:.4f}, cold HR@10 {colds[name]['HR@10']:.4f} "
              f"({warm[name]['fit s']:.0f} s + {colds[name]['fit s']:.0f} s)", flush=True)
    if {"SASRec", "LMZeroShot"} <= set(fitted_warm):
        scores = {w: evaluate(Rerank(retriever=fitted_warm["SASRec"], ranker=fitted_warm["LMZeroShot"], weight=w)
                              .fit(split.train), split, 10, part="valid", metrics=("NDCG",))["value"].iloc[0]
                  for w in WEIGHTS}
        best = max(scores, key=scores.get)
        print("5. Rerank weight on validation NDCG@10: " + ", ".join(f"{w}: {v:.4f}" for w, v in scores.items()))
        name = f"Rerank SASRec top 50 by LMZeroShot (weight {best})"
        for fitted, rows, sp in ((fitted_warm, warm, split), (fitted_cold, colds, cold)):
            model = Rerank(retriever=fitted["SASRec"], ranker=fitted["LMZeroShot"], weight=best).fit(sp.train)
            rows[name] = row_of(evaluate(model, sp, 10, metrics=("HR", "NDCG")), np.nan)
            fitted[name] = model  # paired with SASRec and LMZeroShot in part 4
    if "SemanticIDRec" in fitted_warm:
        name = f"SemanticIDRec, generated (beam {SEMANTIC['beam']})"
        for fitted, rows, sp in ((fitted_warm, warm, split), (fitted_cold, colds, cold)):
            rows[name] = row_of(evaluate_lists(generated(fitted["SemanticIDRec"], sp).items, sp, 10,
                                               metrics=("HR", "NDCG")), np.nan)
        free = generated(fitted_warm["SemanticIDRec"], split, constrained=False)
        print(f"5. SemanticIDRec without the trie: {free.invalid_share:.2%} of the generated code tuples are no item; "
              f"{fitted_warm['SemanticIDRec'].n_collisions_} items needed the extra code level")
        if "SASRec" in fitted_warm:
            lists = {"SemanticIDRec (beam)": generated(fitted_warm["SemanticIDRec"], split).items,
                     "SASRec": lists_of(fitted_warm["SASRec"], split)}
            print("\n5. warm test, generated lists against SASRec's, paired over users")
            print(evaluate_lists(lists, split, 10, metrics=("HR", "NDCG"), baseline="SASRec")
                  .set_index(["model", "metric"])[["value", "diff", "diff_lo", "diff_hi", "p_value"]]
                  .to_string(float_format=lambda x: f"{x:.4f}"))
    warm, colds = pd.DataFrame.from_dict(warm, orient="index"), pd.DataFrame.from_dict(colds, orient="index")
    table = pd.DataFrame({
        "HR@10 [95% CI]": interval(warm, "HR"), "NDCG@10 [95% CI]": interval(warm, "NDCG"),
        "cold HR@10 [95% CI]": interval(colds, "HR"), "cold NDCG@10 [95% CI]": interval(colds, "NDCG"),
        "fit s": warm["fit s"].round(1), "cold fit s": colds["fit s"].round(1),
    })
    n_cold = evaluate(Popularity().fit(cold.train), cold, 10, metrics=("HR",))["n_users"].iloc[0]
    print(f"\n2-3. ml-100k, leave-last-out, test, full ranking ({args.threads} torch thread(s)); "
          f"cold: {cold.how}, {n_cold} users whose test item is cold")
    print(table.to_string())
    numbers = warm.add_prefix("warm ").join(colds.add_prefix("cold "))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    numbers.rename_axis("model").to_csv(OUT, float_format="%.6g")
    print(f"wrote {OUT}")
    for baseline in ("LMZeroShot", "SASRec"):
        if baseline in fitted_cold and len(fitted_cold) > 1:
            print(f"\n4. cold split, against {baseline}, paired over users")
            print(paired(fitted_cold, cold, baseline).to_string(float_format=lambda x: f"{x:.4f}"))
    if "SASRec" in fitted_warm and len(fitted_warm) > 1:
        print("\n4. warm test, against SASRec, paired over users")
        print(paired(fitted_warm, split, "SASRec").to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
