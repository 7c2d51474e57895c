"""`python bench/surrogate.py`: the surrogate models on the virtual lab (issue 5's benchmark).

Train on 30 / 60 / 120 virtual-lab cells (random recipes at 4.2 V and 0.1 C, tested 300 cycles, so long-lived
cells are censored), test on 300 other cells tested to the end of life (uncensored truth, noise included). Each
training size is drawn `--draws` times; figures are the mean (and min-max) over draws. Reports RMSE of log10
cycles-to-80 %, 90 % interval coverage and mean width (CV+), for the GP with physics features (the default), the
GP on recipe + microstructure only, gradient-boosted trees, and the estimator grouped CV selects; the noise floor
(the noise-free lab's own prediction); and the early-life model's error (mean |error| / true life, cells that
reach cycle N above 80 %). Writes bench/results/surrogate.json and surrogate.png; prints a table.

  python bench/surrogate.py             # ~10 min on 2 cores
  python bench/surrogate.py --quick     # tiny configuration (the test suite runs it)
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != PROJECT / "bench"]   # bench/optimizer.py ≠ optimizer
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from bench import harness  # noqa: E402
from models.early import EARLY_FEATURES, early_features  # noqa: E402
from models.features import target  # noqa: E402
from models.surrogate import Surrogate, select  # noqa: E402
from virtual_lab.labs import cycles_rows, frame_of, life_row, recipe_of  # noqa: E402
from optimizer.space import BENCHMARK_SPACE  # noqa: E402
from virtual_lab.lab import simulate  # noqa: E402

GOAL = {"rmse": 0.12, "coverage": (0.87, 0.95), "early_error": 0.09}
TEST_CYCLES = 3000


def cells(n: int, seed: int, n_cycles: int) -> tuple[pl.DataFrame, pl.DataFrame, list]:
    """n random benchmark-space cells: cell frame (with ids and batches of 6), per-cycle rows, raw results."""
    rng = np.random.default_rng(seed)
    recipes = BENCHMARK_SPACE.random(n, rng)
    results = [simulate(recipe_of(r), n_cycles, seed=int(rng.integers(2**62))) for r in recipes]
    ids = [f"C{seed}-{i}" for i in range(n)]
    frame = frame_of([life_row(r) for r in results]).with_columns(
        pl.Series("cell_id", ids), pl.Series("batch", [i // 6 for i in range(n)]))
    cyc = pl.concat([cycles_rows(c, r) for c, r in zip(ids, results)])
    return frame, cyc, results


def evaluate(size: int, draw: int, early_n: int, test) -> dict:
    test_frame, test_cycles, test_results = test
    truth = np.log10([r.cycles_to_80 for r in test_results])
    train, train_cycles, _ = cells(size, 1000 * size + draw, 300)
    tgt = target("cycles_to_80")
    out = {"size": size, "draw": draw, "censored": int(train["censored_80"].sum())}
    models = {"gp_physics": Surrogate(kind="gp", physics=True),
              "gp_recipe_only": Surrogate(kind="gp", physics=False),
              "gbt_physics": Surrogate(kind="gbt", physics=True)}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(train, tgt, train["batch"].to_numpy())
        p = model.predict(test_frame, 0.9)
        out[name] = {"rmse": float(np.sqrt(np.mean((p["mean"] - truth) ** 2))),
                     "coverage": float(np.mean((p["lo"] <= truth) & (truth <= p["hi"]))),
                     "width": float(np.mean(p["hi"] - p["lo"])), "cv_rmse": model.cv_metrics_["rmse"],
                     "fit_s": time.perf_counter() - t0}
    chosen, _ = select(train, tgt, train["batch"].to_numpy())
    out["selected"] = {"estimator": chosen.kind, **out[f"{chosen.kind}_physics"]}
    out["early"] = early_life(train, train_cycles, test_frame, test_cycles, truth, early_n)
    return out


def early_life(train, train_cycles, test_frame, test_cycles, truth, n: int) -> dict | None:
    tr = train.join(early_features(train_cycles, n), on="cell_id").filter(_eligible(n))
    te = test_frame.with_columns(pl.Series("truth", truth)).join(early_features(test_cycles, n), on="cell_id")
    te = te.filter(_eligible(n))
    if tr.height < 8 or te.height == 0:
        return {"n_cycles": n, "n_train": tr.height, "n_test": te.height, "error": None}
    model = Surrogate(kind="gp", physics=False, extra_features=EARLY_FEATURES).fit(tr, target("cycles_to_80"),
                                                                    tr["batch"].to_numpy())
    p = model.predict(te, 0.9)
    life, pred = 10 ** te["truth"].to_numpy(), 10 ** p["mean"]
    recipe_only = Surrogate(kind="gp").fit(tr, target("cycles_to_80"), tr["batch"].to_numpy()).predict(te)
    return {"n_cycles": n, "n_train": tr.height, "n_test": te.height,
            "error": float(np.mean(np.abs(pred - life) / life)),
            "error_recipe_only_same_cells": float(np.mean(np.abs(10 ** recipe_only["mean"] - life) / life))}


def _eligible(n: int):
    return (pl.col("cycles_tested") >= n) & ((pl.col("cycles_to_80") > n) | pl.col("censored_80"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--sizes", default="30,60,120")
    parser.add_argument("--test-cells", type=int, default=300)
    parser.add_argument("--early-cycles", type=int, default=50)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--results", type=Path, default=None, help="folder for the JSON and plot "
                        "(default bench/results)")
    parser.add_argument("--quick", action="store_true", help="2 draws of 30 cells, 60 test cells")
    parser.add_argument("--name", default=None, help="results name (default surrogate, or surrogate-quick)")
    args = parser.parse_args(argv)
    if args.quick:
        args.draws, args.sizes, args.test_cells = 1, "30", 60
    name = args.name or ("surrogate-quick" if args.quick else "surrogate")
    sizes = [int(s) for s in args.sizes.split(",")]
    started, machine = time.perf_counter(), harness.machine()
    test = cells(args.test_cells, 7, TEST_CYCLES)
    truth = np.log10([r.cycles_to_80 for r in test[2]])
    floor = np.log10([simulate(r.recipe, TEST_CYCLES, seed=0, noise=False).cycles_to_80 or TEST_CYCLES
                      for r in test[2]])
    jobs = [(s, d) for s in sizes for d in range(args.draws)]
    workers = args.workers or min(len(jobs), harness.os.cpu_count() or 1)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:   # polars + fork hang
        runs = list(pool.map(evaluate, *zip(*jobs), [args.early_cycles] * len(jobs), [test] * len(jobs)))
    summary = {s: summarise([r for r in runs if r["size"] == s]) for s in sizes}
    payload = {"machine": machine, "seconds": round(time.perf_counter() - started, 1), "goal": GOAL,
               "config": vars(args), "noise_floor_rmse": float(np.sqrt(np.mean((floor - truth) ** 2))),
               "summary": summary, "runs": runs}
    if not args.quick:                  # the README table (bench/run.py) collects "table" rows of every result
        payload["table"] = table(summary, sizes, payload["noise_floor_rmse"])
    harness.write_result(name, payload, args.results)
    print_table(payload, sizes)
    if not args.quick:
        plot(summary, sizes, (args.results or harness.RESULTS) / f"{name}.png")
    return 0


def summarise(runs: list[dict]) -> dict:
    out = {}
    for model in ("gp_physics", "gp_recipe_only", "gbt_physics", "selected"):
        out[model] = {k: _stats([r[model][k] for r in runs]) for k in ("rmse", "coverage", "width")}
    errors = [r["early"]["error"] for r in runs if r["early"] and r["early"]["error"] is not None]
    base = [r["early"]["error_recipe_only_same_cells"] for r in runs if r["early"] and r["early"]["error"]]
    out["early"] = {"error": _stats(errors), "recipe_only_error": _stats(base),
                    "n_train": _stats([r["early"]["n_train"] for r in runs if r["early"]]),
                    "n_test": _stats([r["early"]["n_test"] for r in runs if r["early"]])}
    out["selected_estimators"] = sorted({r["selected"]["estimator"] for r in runs})
    out["censored_training_cells"] = _stats([r["censored"] for r in runs])
    return out


def _stats(values) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": float(np.mean(values)), "median": float(np.median(values)), "min": float(np.min(values)),
            "max": float(np.max(values)), "n": len(values), "values": [float(v) for v in values]}


def table(summary: dict, sizes: list[int], floor: float) -> list[dict]:
    rows = []
    s = summary.get(60) or summary[sizes[0]]
    size = 60 if 60 in summary else sizes[0]
    gp = s["gp_physics"]
    lo, hi = GOAL["coverage"]
    r = gp["rmse"]
    hits = sum(v <= GOAL["rmse"] for v in r["values"])
    verdict = "met" if r["mean"] <= GOAL["rmse"] else (
        f"missed on the mean by {r['mean'] - GOAL['rmse']:.3f}; met by the median" if r["median"] <= GOAL["rmse"]
        else f"missed by {r['mean'] - GOAL['rmse']:.3f}")
    # No README row for the surrogate's RMSE and coverage here: this is the seed's lab, on which the features were
    # developed; the README's surrogate figures come from unseen labs (bench/generalization.py --set report).
    print(f"(not in the README) GP + physics, {size} cells: RMSE mean {r['mean']:.3f} ({hits} of {r['n']} draws "
          f"<= {GOAL['rmse']}, {verdict}), coverage mean {gp['coverage']['mean']:.3f} (goal {lo}-{hi})")
    e = s["early"]["error"]
    if e:     # the seed's lab again: the README's early-life figures come from unseen labs (bench/early_life.py)
        print(f"(not in the README) early-life model: mean absolute error / cycle life {e['mean']:.3f} (recipe-only "
              f"{s['early']['recipe_only_error']['mean']:.3f}; goal <= {GOAL['early_error']})")
    return rows


def print_table(payload: dict, sizes: list[int]) -> None:
    print(f"noise floor (noise-free lab as predictor): RMSE {payload['noise_floor_rmse']:.3f}")
    print(f"{'cells':>5}  {'model':<15} {'RMSE log10 L80':>22}  {'coverage 90 %':>22}  {'width':>6}")
    for s in sizes:
        for model in ("gp_physics", "gp_recipe_only", "gbt_physics", "selected"):
            m = payload["summary"][s][model]
            print(f"{s:>5}  {model:<15} {_fmt(m['rmse'])}  {_fmt(m['coverage'])}  {m['width']['mean']:6.3f}")
        e = payload["summary"][s]["early"]
        if e["error"]:
            print(f"{s:>5}  early life ({payload['config']['early_cycles']} cycles): error {_fmt(e['error'])} "
                  f"(recipe-only on the same cells {e['recipe_only_error']['mean']:.3f}); "
                  f"{e['n_train']['mean']:.0f} training, {e['n_test']['mean']:.0f} test cells")
    for row in payload.get("table") or table(payload["summary"], sizes, payload["noise_floor_rmse"]):
        print(f"{row['what']}: {row['figure']} (goal {row['goal']}): {row['verdict']}")


def _fmt(st: dict) -> str:
    return f"{st['mean']:.3f} ({st['min']:.3f}-{st['max']:.3f})"


def plot(summary: dict, sizes: list[int], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for model, style in (("gp_physics", "o-"), ("gp_recipe_only", "s--"), ("gbt_physics", "^:")):
        for ax, key in zip(axes, ("rmse", "coverage")):
            mean = [summary[s][model][key]["mean"] for s in sizes]
            lo = [summary[s][model][key]["min"] for s in sizes]
            hi = [summary[s][model][key]["max"] for s in sizes]
            ax.errorbar(sizes, mean, yerr=[np.subtract(mean, lo), np.subtract(hi, mean)], fmt=style,
                        capsize=3, label=model)
    axes[0].axhline(GOAL["rmse"], color="grey", lw=0.8)
    axes[0].set(xlabel="training cells", ylabel="RMSE log10 cycles-to-80 %", xscale="log")
    axes[1].axhspan(*GOAL["coverage"], color="grey", alpha=0.2)
    axes[1].set(xlabel="training cells", ylabel="90 % interval coverage", xscale="log")
    for ax in axes:
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
