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

Popularity and ID-only SASRec are the references. MiniLM fit times include encoding the titles
only when the embedding cache is empty (the first run). Numbers, not assertions.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from reclab import compare, evaluate
from reclab.data import leave_last_out, load_movielens
from reclab.models import Popularity, SASRec
from reclab.models.hybrid import cold_item_split
from reclab.models.lm import LMZeroShot, TextSASRec

MODELS = {
    "Popularity": lambda: Popularity(),
    "LMZeroShot": lambda: LMZeroShot(),
    "SASRec": lambda: SASRec(),
    "TextSASRec (text)": lambda: TextSASRec(with_ids=False),
    "TextSASRec (text+ID)": lambda: TextSASRec(with_ids=True),
}
HALF_LIVES = (None, 1.0, 3.0, 10.0, 30.0)


def measure(make, split) -> tuple[object, dict]:
    model = make()
    start = time.perf_counter()
    model.fit(split.train, valid=split.valid)
    seconds = time.perf_counter() - start
    res = evaluate(model, split, 10, metrics=("HR", "NDCG")).set_index("metric")
    row = {"fit s": seconds}
    for metric in ("HR", "NDCG"):
        row |= {f"{metric}@10": res.loc[metric, "value"], f"{metric} lo": res.loc[metric, "lo"],
                f"{metric} hi": res.loc[metric, "hi"]}
    history = getattr(model, "history_", None)
    if history is not None:
        row["best epoch"] = history.best_epoch
    return model, row


def interval(table: pd.DataFrame, metric: str) -> pd.Series:
    return table.apply(lambda r: f"{r[f'{metric}@10']:.4f} [{r[f'{metric} lo']:.4f}, {r[f'{metric} hi']:.4f}]", axis=1)


def paired(models: dict, split, baseline: str) -> pd.DataFrame:
    table = compare(models, split, 10, metrics=("HR", "NDCG"), baseline=baseline)
    return table.set_index(["model", "metric"])[["value", "diff", "diff_lo", "diff_hi", "p_value"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), help=f"any of {list(MODELS)}")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    torch.set_num_threads(args.threads)
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
    for baseline in ("LMZeroShot", "SASRec"):
        if baseline in fitted_cold and len(fitted_cold) > 1:
            print(f"\n4. cold split, against {baseline}, paired over users")
            print(paired(fitted_cold, cold, baseline).to_string(float_format=lambda x: f"{x:.4f}"))
    if "SASRec" in fitted_warm and len(fitted_warm) > 1:
        print("\n4. warm test, against SASRec, paired over users")
        print(paired(fitted_warm, split, "SASRec").to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
