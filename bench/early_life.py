"""`python bench/early_life.py --set tune`: the early-life model's calibration on labs it was not tuned on.

Per virtual-lab variant (`--set tune` = variants 1-10 for development, `--set report` = 101-120 for the reported
figure only): 60 training cells uniform over the whole recipe space, each tested until 600 cycles or until its
retention falls below 60 % (bench/generalization.py's cells); the early-life model trained on them exactly as
`cathode train` trains it (`models.registry.fit_early`: the cells that reached cycle 50 above 80 %), and the
recipe-only model `cathode train` fits for cycles-to-80 % (`models.registry.fit_target`, every training cell) as its
peer. Test: 200 fresh cells of the same lab still above 80 % at cycle 50, their first 50 cycles as observed, truth
their cycles-to-80 % (the lake's rule) from a test run to the end of life. Scores per variant: 90 % interval coverage
and RMSE of log10 cycles-to-80 %, overall, per process, and apart for the cells whose interval reaches past the
longest life measured in training (`cathode predict --under-test` flags them); the summary is the median over
variants (a variant with fewer than 8 training cells alive at cycle 50 gets no early-life model, as in `cathode
train`: listed, not scored). The virtual lab's CE carries its read-out noise (LabConstants.noise_ce). Writes
bench/results/early-life-<set>.json ("table": README rows, report set only).

  python bench/early_life.py --set tune --workers 2          # ~7 s per variant on one core
  python bench/early_life.py --set report --variants 101,102 --workers 2
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")            # shared machine: one thread per process
PROJECT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != PROJECT / "bench"]  # bench/optimizer.py ≠ optimizer
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from bench import harness  # noqa: E402
from bench.generalization import (SETS, STOP_BELOW, TEST_CYCLES, TRAIN_CYCLES, _map, _medians, _scores,  # noqa: E402
                                  _slices, whole_space_cells)
from lake.errors import InputError  # noqa: E402
from lake.recipe import PROCESSES  # noqa: E402
from models.early import DEFAULT_N, early_features, eligible  # noqa: E402
from models.features import MIN_CELLS  # noqa: E402
from models.registry import fit_early, fit_target, longest_measured_life  # noqa: E402
from virtual_lab import variants  # noqa: E402
from virtual_lab.labs import cycles_rows  # noqa: E402

MODELS = ("early_life", "recipe_only")
GOAL_COVERAGE = (0.87, 0.95)
MAX_TEST_DRAWS = 10                   # batches of fresh cells drawn to find the test cells still alive at cycle N


def cycles_of(frame: pl.DataFrame, results: list) -> pl.DataFrame:
    """Per-cycle retention and CE of the cells of a whole_space_cells frame (what `cathode train` reads)."""
    return pl.concat([cycles_rows(cid, r) for cid, r in zip(frame["cell_id"], results)])


def fresh_cells(k: int, n_test: int, n: int) -> tuple[pl.DataFrame, pl.DataFrame, list]:
    """``n_test`` fresh cells of variant k still above 80 % at cycle n whose long test crossed 80 %: frame with the
    early-life features' cycles, their cycles, and their recipes; drawn in batches until there are enough."""
    frames, cycles, recipes = [], [], []
    for batch in range(MAX_TEST_DRAWS):
        frame, results = whole_space_cells(n_test, k, 2000 + 100 * batch + k, TEST_CYCLES, None)
        keep = frame.select(eligible(frame, n) & ~pl.col("censored_80").fill_null(True)).to_series().to_numpy()
        kept = [r for r, m in zip(results, keep) if m]
        if kept:
            frames.append(frame.filter(pl.Series(keep)))
            cycles.append(cycles_of(frames[-1], kept).filter(pl.col("cycle_number") <= n))   # observed so far
            recipes += [r.recipe for r in kept]
        if len(recipes) >= n_test:
            break
    frame = pl.concat(frames).head(n_test)
    return frame, pl.concat(cycles).filter(pl.col("cell_id").is_in(frame["cell_id"].to_list())), recipes[:n_test]


def evaluate(k: int, n_train: int = 60, n_test: int = 200, n: int = DEFAULT_N) -> dict:
    """One variant: train both models on n_train cells, score them on n_test cells alive at cycle n."""
    t0 = time.perf_counter()
    train, train_res = whole_space_cells(n_train, k, 1000 + k, TRAIN_CYCLES, STOP_BELOW)
    train_cycles = cycles_of(train, train_res)
    try:
        early = fit_early(train, train_cycles, n).model
    except InputError as exc:             # as `cathode train` skips the early-life model: too few cells alive at n
        return {"variant": k, "skipped": str(exc), "seconds": round(time.perf_counter() - t0, 1)}
    recipe_only = fit_target(train, "cycles_to_80").model
    test, test_cycles, recipes = fresh_cells(k, n_test, n)
    truth = np.log10(test["cycles_to_80"].to_numpy().astype(float))
    observed = test.join(early_features(test_cycles, n), on="cell_id", how="left")
    masks = _slices(recipes, truth)
    out = {"variant": k, "noise_ce": variants.variant(k).noise_ce, "train_cells": n_train,
           "train_cells_eligible": early.n_cells_, "censored_training_cells": int(train["censored_80"].sum()),
           "test_cells": len(truth), "models": {}}
    for name, model in (("early_life", early), ("recipe_only", recipe_only)):
        pred = model.predict(observed, 0.9)
        # as `cathode predict --under-test` flags them: the interval reaches past every life measured in training
        beyond = pred["hi"] > np.log10(longest_measured_life(model))
        out["models"][name] = _scores(pred, truth, {**masks, "within_measured_life": ~beyond,
                                                    "beyond_measured_life": beyond})
        out.setdefault("cells", {})[f"{name}_mean"] = np.round(pred["mean"], 4).tolist()
    out["cells"].update(truth=truth.round(4).tolist(), process=[r.process for r in recipes])
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def summarise(runs: list[dict]) -> dict:
    """Medians over the variants whose early-life model could be trained; the others are listed."""
    out = {"skipped_variants": {r["variant"]: r["skipped"] for r in runs if "skipped" in r}}
    runs = [r for r in runs if "skipped" not in r]
    out.update({name: _medians([r["models"][name] for r in runs]) for name in MODELS})
    out["train_cells_eligible"] = float(np.median([r["train_cells_eligible"] for r in runs]))
    out["coverage_per_variant"] = {r["variant"]: r["models"]["early_life"]["all"]["coverage"] for r in runs}
    return out


def table(summary: dict, n_variants: int, n: int, train_cells: int) -> list[dict]:
    e, p, skipped = summary["early_life"], summary["recipe_only"], len(summary["skipped_variants"])
    scored = f"{n_variants - skipped} of {n_variants}" if skipped else f"{n_variants}"
    why = (f" ({skipped} with fewer than {MIN_CELLS} of their {train_cells} training cells alive at cycle {n}: "
           "no early-life model, as `cathode train` skips it)") if skipped else ""
    lo, hi = GOAL_COVERAGE
    per_process = ", ".join(f"{q} {e[q]['coverage']:.2f}" for q in PROCESSES if q in e)
    return [{"what": f"early-life model (recipe + first {n} cycles, CE with read-out noise), cells alive at cycle "
                     f"{n}: 90 % interval coverage and RMSE of log10 cycles-to-80 %, median over {scored} "
                     f"unseen virtual-lab variants{why}",
             "figure": f"coverage **{e['all']['coverage']:.2f}** ({per_process}; {_share('within', e)}, "
                       f"{_share('beyond', e)}), RMSE {e['all']['rmse']:.3f}; "
                       f"recipe-only model on the same cells {p['all']['coverage']:.2f} / {p['all']['rmse']:.3f}",
             "goal": f"coverage {lo}-{hi}",
             "verdict": "met" if lo <= e["all"]["coverage"] <= hi else "missed"}]


def _share(where: str, scores: dict) -> str:
    """Coverage of the cells whose interval stays within (reaches beyond) the longest life measured in training."""
    got = scores.get(f"{where}_measured_life")
    return f"{where} the longest life measured in training {got['coverage']:.2f}" if got else f"none {where} it"


def print_summary(payload: dict) -> None:
    s = payload["summary"]
    print(f"set {payload['set']}, variants {payload['config']['variants']} (medians over variants; "
          f"{s['train_cells_eligible']:.0f} eligible training cells)")
    for name in MODELS:
        print(f"  {name:<12} " + "  ".join(f"{sl} {v['rmse']:.3f}/{v['coverage']:.2f}" for sl, v in s[name].items())
              + "   (RMSE / coverage)")
    for k, why in s["skipped_variants"].items():
        print(f"  variant {k} skipped: {why}")
    print("  early-life coverage per variant: " + ", ".join(f"{k}: {v:.2f}"
                                                            for k, v in s["coverage_per_variant"].items()))
    for row in payload["table"]:
        print(f"{row['what']}: {row['figure']} (goal {row['goal']}): {row['verdict']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=tuple(SETS), required=True)
    parser.add_argument("--variants", default=None, help="comma-separated subset of the set (default: all)")
    parser.add_argument("--train-cells", type=int, default=60)
    parser.add_argument("--test-cells", type=int, default=200)
    parser.add_argument("--early-cycles", type=int, default=DEFAULT_N)
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args(argv)
    chosen = tuple(int(v) for v in args.variants.split(",")) if args.variants else SETS[args.set]
    if not set(chosen) <= set(SETS[args.set]):
        parser.error(f"--variants must be in the {args.set} set {SETS[args.set]}")
    started = time.perf_counter()
    runs = _map(evaluate, [(k, args.train_cells, args.test_cells, args.early_cycles) for k in chosen], args.workers)
    summary = summarise(runs)
    payload = {"machine": harness.machine(), "config": {**vars(args), "variants": list(chosen)}, "set": args.set,
               "summary": summary, "runs": runs, "seconds": round(time.perf_counter() - started, 1),
               # only the report set's figures go to the README table
               "table": table(summary, len(chosen), args.early_cycles, args.train_cells)
               if args.set == "report" else []}
    harness.write_result(f"early-life-{args.set}", payload, args.results)
    if args.set != "report":
        payload = {**payload, "table": table(summary, len(chosen), args.early_cycles, args.train_cells)}   # printed
    print_summary(payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
