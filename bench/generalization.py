"""`python bench/generalization.py --set tune`: the surrogate and the optimizer on labs they were not tuned on
(issue 14). The labs are virtual-lab variants (`virtual_lab.variants`): the tuning set is variants 1-10, the report
set 101-120. No tuning decision may look at the report set; run `--set report` only to report.

(a) surrogate, whole recipe space: per variant, 60 training cells uniform over every knob (cut-off 4.0-4.5 V,
    0.05-0.5 C), each tested until 600 cycles or until its retention falls below 60 % (so long-lived cells are
    censored; a cell that shorts is reported as the lab knows it, `end_of_test = short`); 200 test cells cycled to
    the end of life, their cycles-to-80 % as the lake defines it (a short is a failure at its cycle; the simulator's
    own retention is scored too). RMSE of log10 cycles-to-80 % and 90 % interval coverage, overall, per process,
    on the cells that shorted, on those that faded and on other diagnostic slices, for the project's surrogate
    (`models.registry.fit_target`, the path `cathode train` takes: GP unless trees are clearly better, physics
    features, shorts modelled apart, CV+ intervals), the GP `cathode propose` fits for the intervals it records
    (`project_propose`: CV+ from refitted fold GPs) and, in the same run, scikit-learn baselines on raw recipe +
    measured microstructure, censored cells taken at face value, shorts as the lake records them: a GP (constant x
    ARD Matern-5/2 + white noise, Gaussian intervals), a random forest and gradient boosting (intervals: the
    90 % quantile of 5-fold out-of-fold absolute errors).
(b) optimizer, `delivered_capacity:300` at 4.2 V / 0.1 C, noisy cells: the variant's four seed cells as warm
    start, then `--rounds` batches of 4 by the project's loop, twice: `project_lake` as the CLI runs it, a real lake
    in between (propose -> the variant fills the form -> ingest -> best; bench/lake_loop.py), and `project` in
    memory (`optimizer.campaign.run`: the same acquisition, recommendation by posterior mean); random search, Optuna
    TPE (multivariate, constant liar), Optuna's GPSampler and BayBE (defaults: hybrid categorical + continuous
    space, batches of 4). GPSampler and BayBE need torch, which the project does not: `--setup` makes
    .venv-bench/peers, our packages plus torch and BayBE; run with its python, else they are skipped and said
    so). Regret = the variant's true optimum (noise-free) minus the true value, as a fraction of the optimum, of
    the best recipe tried and of the recommendation (the project: best posterior mean; the others: best measured
    value) at 12 and 24 experiments.
Figures are medians over variants; per-variant values and raw true values in
bench/results/generalization-<set>[-<part>].json (`-quick` for --quick runs).

  python bench/generalization.py --setup                               # once: the peers' venv (torch, BayBE)
  python bench/generalization.py --set tune --part surrogate           # ~1-2 min on 1 core
  .venv-bench/peers/bin/python bench/generalization.py --set tune --part optimizer --seeds 3
  python bench/generalization.py --set tune --quick --variants 1,2     # smoke run
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")            # shared machine: one thread per process
PROJECT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != PROJECT / "bench"]   # bench/optimizer.py ≠ optimizer
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from bench import harness  # noqa: E402
from bench.baselines import BASELINES, OBJECTIVE, fit_predict, peer_campaign  # noqa: E402
from bench.lake_loop import lake_campaign  # noqa: E402
from lake.recipe import PROCESSES  # noqa: E402
from models.registry import fit_target  # noqa: E402
from models.short import shorted_first  # noqa: E402
from optimizer import campaign  # noqa: E402
from optimizer.acquisition import fit_surrogates  # noqa: E402
from optimizer.objectives import parse  # noqa: E402
from optimizer.space import BENCHMARK_SPACE  # noqa: E402
from virtual_lab import variants  # noqa: E402
from virtual_lab.lab import random_recipes, seed_recipes, simulate  # noqa: E402
from virtual_lab.labs import frame_of, life_row, virtual_lab  # noqa: E402

SETS = {"tune": variants.TUNING, "report": variants.REPORT}
TRAIN_CYCLES, STOP_BELOW, TEST_CYCLES = 600, 0.6, 20000
METHODS = ("project", "project_lake", "random", "tpe", "gp_sampler", "baybe")
SURROGATES = ("project", "project_propose", *BASELINES)


# ---------------------------------------------------------------- (a) surrogate on the whole space

def stopped(res, below: float):
    """The cell as a lab tests it: stop at the first cycle whose retention (of the best of cycles 1-3) is below
    ``below``."""
    n = res.last_cycle
    if n == 0:
        return res
    dis = np.asarray(res.discharge_capacity_mah_g[:n], float)
    under = np.flatnonzero(dis / dis[:3].max() < below)
    return replace(res, last_cycle=int(under[0]) + 1) if under.size else res


def whole_space_cells(n: int, k: int, seed: int, n_cycles: int, stop_below: float | None):
    """n cells uniform over the whole recipe space in variant k: (cell frame with ids and batches of 6, results)."""
    lab, rng = variants.variant(k), np.random.default_rng([k, seed, 1])
    results = [simulate(r, n_cycles, seed=int(rng.integers(2**62)), lab=lab) for r in random_recipes(n, seed)]
    if stop_below:
        results = [stopped(r, stop_below) for r in results]
    frame = frame_of([life_row(r) for r in results]).with_columns(
        pl.Series("cell_id", [f"V{k}-{seed}-{i}" for i in range(n)]), pl.Series("batch", [i // 6 for i in range(n)]))
    return frame, results


def _scores(pred: dict, truth: np.ndarray, masks: dict) -> dict:
    out = {}
    for name, m in masks.items():
        if not m.any():
            continue
        err, inside = pred["mean"][m] - truth[m], (pred["lo"][m] <= truth[m]) & (truth[m] <= pred["hi"][m])
        out[name] = {"n": int(m.sum()), "rmse": float(np.sqrt(np.mean(err ** 2))), "bias": float(np.mean(err)),
                     "coverage": float(np.mean(inside)), "width": float(np.mean(pred["hi"][m] - pred["lo"][m]))}
    return out


def _slices(rec: list, truth: np.ndarray) -> dict:
    return {"all": np.ones(len(truth), bool), **{p: np.array([r.process == p for r in rec]) for p in PROCESSES},
            "near_protocol": np.array([abs(r.voltage_max_v - 4.2) <= 0.1 and r.c_rate <= 0.15 for r in rec]),
            "high_voltage": np.array([r.voltage_max_v > 4.35 for r in rec]),
            "fast": np.array([r.c_rate > 0.3 for r in rec]),
            f"life_le_{TRAIN_CYCLES}": truth <= np.log10(TRAIN_CYCLES),      # within the training tests' length
            f"life_gt_{TRAIN_CYCLES}": truth > np.log10(TRAIN_CYCLES)}


def _short_first(r) -> bool:
    return bool(r.shorted and (r.cycles_to_80 is None or r.short_cycle <= r.cycles_to_80))


def surrogate_variant(k: int, n_train: int, n_test: int) -> dict:
    """Truth = cycles-to-80 % as the lake defines it (`life_row`: measured capacity over the best of cycles 1-3, a
    short a failure at its cycle) of each test cell tested to the end of life; cells whose test ends without
    crossing 80 % (alive at TEST_CYCLES) are not scored there. Also scored against the simulator's own retention
    (`CellResult.cycles_to_80`, shorts count as failures), which bench/surrogate.py uses."""
    t0 = time.perf_counter()
    lab = variants.variant(k)
    train, train_res = whole_space_cells(n_train, k, 1000 + k, TRAIN_CYCLES, STOP_BELOW)
    test_all, res_all = whole_space_cells(n_test, k, 2000 + k, TEST_CYCLES, None)
    scored = (~test_all["censored_80"].fill_null(True)).to_numpy()
    test, test_res = test_all.filter(pl.Series(scored)), [r for r, m in zip(res_all, scored) if m]
    truth = np.log10(test["cycles_to_80"].to_numpy().astype(float))
    rec = [r.recipe for r in test_res]
    quiet = frame_of([life_row(simulate(r, TEST_CYCLES, noise=False, lab=lab)) for r in rec])
    floor = np.log10(quiet["cycles_to_80"].fill_null(TEST_CYCLES).to_numpy().astype(float))
    shorted = shorted_first(test, "cycles_to_80")
    masks = {**_slices(rec, truth), "shorted": shorted, "faded": ~shorted}
    out = {"variant": k, "train_cells": n_train, "test_cells": len(truth), "test_cells_shorted": int(shorted.sum()),
           "test_cells_not_scored": {"alive_at_end": int((~scored).sum())},
           "censored_training_cells": int(train["censored_80"].fill_null(False).sum()),
           "training_cells_ended_by_short": sum(_short_first(r) and r.short_cycle <= TRAIN_CYCLES
                                                for r in train_res),
           "noise_floor_rmse": float(np.sqrt(np.mean((floor - truth) ** 2))), "models": {}}
    model = fit_target(train, "cycles_to_80").model
    out["project_estimator"] = model.kind
    out["project_cv"] = {k2: v for k2, v in model.cv_metrics_.items() if isinstance(v, (int, float, str))}
    out["project_shorts_learnt_from"] = model.short_.n_shorts_
    pred = model.predict(test, 0.9)
    out["models"]["project"] = _scores(pred, truth, masks)
    # the surrogate `cathode propose` fits for its recorded intervals (jackknife+ from the GP's exact leave-one-out)
    campaign_model = fit_surrogates(train, ["cycles_to_80"])["cycles_to_80"]
    out["models"]["project_propose"] = _scores(campaign_model.predict(test, 0.9), truth, masks)
    for name in BASELINES:
        out["models"][name] = _scores(fit_predict(name, train, test), truth, masks)
    # the same model against the simulator's truth (every cell that reached 80 % or shorted)
    ended = np.array([r.cycles_to_80 is not None for r in res_all])
    sim_truth = np.log10([r.cycles_to_80 for r in res_all if r.cycles_to_80 is not None])
    sim_rec = [r.recipe for r in res_all if r.cycles_to_80 is not None]
    sim_masks = {**_slices(sim_rec, sim_truth),
                 "shorted": np.array([_short_first(r) for r in res_all if r.cycles_to_80 is not None])}
    out["project_vs_simulator_truth"] = _scores(model.predict(test_all.filter(pl.Series(ended)), 0.9), sim_truth,
                                                sim_masks)
    out["cells"] = {"process": [r.process for r in rec], "truth": truth.round(4).tolist(),   # for diagnosis
                    "voltage_max_v": [r.voltage_max_v for r in rec], "c_rate": [r.c_rate for r in rec],
                    **{f"project_{q}": np.round(pred[q], 4).tolist() for q in ("mean", "lo", "hi")}}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


# ---------------------------------------------------------------- (b) optimizer

def true_value(params: dict, k: int) -> float:
    return variants.true_value({c: params[c] for c in ("process", "loading_mg_cm2", "densification_frac",
                                                       "eca_wt_frac", "temperature_c")}, variants.variant(k))


def best_measured(frame: pl.DataFrame) -> dict:
    """The recipe a lab without a model would recommend: the best measured value."""
    measured, _ = parse(OBJECTIVE)[0].observed(frame)
    return frame.row(int(np.nanargmax(np.nan_to_num(measured, nan=-1.0))), named=True)


def optimizer_run(k: int, seed: int, method: str, rounds: int, batch: int) -> dict:
    lab = variants.variant(k)
    labfn = virtual_lab(300, seed=seed, lab=lab)
    warm = [asdict(r) for r in seed_recipes(lab).values()]
    t0 = time.perf_counter()
    p_death = None
    if method in ("project", "random"):
        hist = campaign.run(labfn, BENCHMARK_SPACE, parse(OBJECTIVE), rounds=rounds, batch=batch, warm=warm,
                            method="model" if method == "project" else "random", seed=seed,
                            recommend_with=best_measured)
        frame, recommended = hist.frame, hist.recommended
    elif method == "project_lake":
        made, recommended, p_death = lake_campaign(lab, BENCHMARK_SPACE, OBJECTIVE, rounds, batch, seed)
        frame = pl.DataFrame(made)
    else:
        frame, recommended = peer_campaign(method, labfn, BENCHMARK_SPACE, warm, rounds, batch, seed, best_measured)
        if frame is None:
            return {"variant": k, "seed": seed, "method": method, "skipped": recommended}
    values = [true_value(r, k) for r in frame.to_dicts()]
    rounds_of = frame["round"].to_numpy()
    best_tried = [max(v for v, r in zip(values, rounds_of) if r <= i) for i in range(rounds)]
    return {"variant": k, "seed": seed, "method": method, "seconds": round(time.perf_counter() - t0, 1),
            "best_tried": best_tried, "recommended": [true_value(r, k) for r in recommended],
            **({"recommended_p_death": p_death} if p_death else {})}


def summarise_optimizer(runs: list[dict], optima: dict, batch: int, at=(12, 24)) -> dict:
    out = {}
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method and "skipped" not in r]
        if not mine:
            out[method] = {"skipped": next((r["skipped"] for r in runs if r["method"] == method), "not run")}
            continue
        out[method] = {}
        for n in at:
            i = n // batch - 1
            if i >= len(mine[0]["best_tried"]):
                continue
            for kind in ("best_tried", "recommended"):
                per_variant = {}
                for k in sorted({r["variant"] for r in mine}):
                    reg = [(optima[k] - r[kind][i]) / optima[k] for r in mine if r["variant"] == k]
                    per_variant[k] = float(np.median(reg))
                out[method][f"{kind}_regret_frac@{n}"] = {"median_over_variants": float(np.median(
                    list(per_variant.values()))), "per_variant": per_variant}
            deaths = [r["recommended_p_death"][i] for r in mine if r.get("recommended_p_death")]
            if deaths:                  # the model's own P(death before N) of what `best` recommended
                out[method][f"recommended_p_death@{n}"] = {"max": max(deaths), "median": float(np.median(deaths))}
    return out


def _medians(per_run: list[dict]) -> dict:
    """{slice: scores} per variant -> {slice: median scores over variants}."""
    out = {}
    for sl in sorted({sl for r in per_run for sl in r}):
        vals = [r[sl] for r in per_run if sl in r]
        out[sl] = {m: float(np.median([v[m] for v in vals])) for m in ("rmse", "coverage", "width", "bias", "n")}
    return out


def summarise_surrogate(runs: list[dict]) -> dict:
    out = {model: _medians([r["models"][model] for r in runs]) for model in SURROGATES}
    out["project_vs_simulator_truth"] = _medians([r["project_vs_simulator_truth"] for r in runs])
    for key in ("noise_floor_rmse", "censored_training_cells", "training_cells_ended_by_short",
                "test_cells_shorted"):
        out[key] = float(np.median([r[key] for r in runs]))
    out["project_estimators"] = sorted({r["project_estimator"] for r in runs})
    return out


def setup_peers_venv() -> Path:
    """.venv-bench/peers: a venv that sees this interpreter's packages (a .pth) and adds torch (a CPU build) and
    BayBE."""
    import site
    import subprocess
    venv = PROJECT / ".venv-bench" / "peers"
    if not (venv / "bin" / "python").exists():
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path("
                              "'purelib'))"], check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "zz-project-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    for package in ("torch==2.13.0", "baybe"):                     # torch first: BayBE would pull a CUDA build
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", package], check=True)
    return venv / "bin" / "python"


def _map(fn, jobs, workers):
    if workers <= 1:
        return [fn(*j) for j in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, *zip(*jobs)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=tuple(SETS))
    parser.add_argument("--setup", action="store_true", help="make the peers' venv (GPSampler, BayBE), then stop")
    parser.add_argument("--variants", default=None, help="comma-separated subset of the set (default: all)")
    parser.add_argument("--part", choices=("surrogate", "optimizer", "both"), default="both")
    parser.add_argument("--methods", default=None, help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--seeds", type=int, default=3, help="optimizer campaigns per variant and method")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--train-cells", type=int, default=60)
    parser.add_argument("--test-cells", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="small sizes: 30 training, 60 test cells, 1 seed, "
                        "quick optima")
    args = parser.parse_args(argv)
    if args.setup:
        print(f"peers' venv: {setup_peers_venv()}")
        return 0
    if not args.set:
        parser.error("--set tune or --set report is required")
    chosen = tuple(int(v) for v in args.variants.split(",")) if args.variants else SETS[args.set]
    if not set(chosen) <= set(SETS[args.set]):
        parser.error(f"--variants must be in the {args.set} set {SETS[args.set]}")
    if args.quick:
        args.train_cells, args.test_cells, args.seeds = 30, 60, 1
    name = f"generalization-{args.set}" + (f"-{args.part}" if args.part != "both" else "") + \
        ("-quick" if args.quick else "")
    started = time.perf_counter()
    payload = {"machine": harness.machine(), "config": {**vars(args), "variants": list(chosen)},
               "versions": harness.versions("optuna", "scikit-learn", "torch", "baybe"), "set": args.set}
    if args.part in ("surrogate", "both"):
        runs = _map(surrogate_variant, [(k, args.train_cells, args.test_cells) for k in chosen], args.workers)
        payload["surrogate"] = {"summary": summarise_surrogate(runs), "runs": runs}
    if args.part in ("optimizer", "both"):
        optima = {k: variants.optimum(k, quick=args.quick) for k in chosen}
        methods = args.methods.split(",") if args.methods else METHODS
        jobs = [(k, s, m, args.rounds, args.batch) for k in chosen for s in range(args.seeds) for m in methods]
        runs = _map(optimizer_run, jobs, args.workers)
        payload["optimizer"] = {"optima": {k: {"value": v, "recipe": r} for k, (v, r) in optima.items()},
                                "summary": summarise_optimizer(runs, {k: v for k, (v, _) in optima.items()},
                                                               args.batch),
                                "runs": runs}
    payload["seconds"] = round(time.perf_counter() - started, 1)
    if args.set == "report" and not args.quick:     # only the report set's figures go to the README table
        payload["table"] = table(payload)
    harness.write_result(name, payload, args.results)
    print_summary(payload)
    return 0


def table(payload: dict) -> list[dict]:
    n = len(payload["config"]["variants"])
    rows = []
    if "surrogate" in payload:
        rows += surrogate_rows(payload["surrogate"]["summary"], payload["config"]["train_cells"], n)
    if "optimizer" in payload:
        o = payload["optimizer"]["summary"]
        ran = [m for m in METHODS if "best_tried_regret_frac@24" in o.get(m, {})]
        peers = [m for m in ran if m not in ("project", "project_lake")]
        for kind, what, goal in (("best_tried", "best recipe tried", 0.03), ("recommended", "recommendation", 0.06)):
            med = {m: {at: o[m][f"{kind}_regret_frac@{at}"]["median_over_variants"] for at in (12, 24)} for m in ran}
            ours = med.get("project_lake")
            if ours is None:
                continue
            beats = all(ours[at] < med[m][at] for m in peers for at in (12, 24))
            rows.append({"what": f"optimizer through a lake (`cathode propose` / `best`), {OBJECTIVE}: regret / "
                                 f"optimum of the {what} at 12 / 24 experiments, median over {n} unseen variants",
                         "figure": f"**{ours[12]:.1%} / {ours[24]:.1%}**; " + ", ".join(
                             f"{m} {med[m][12]:.1%} / {med[m][24]:.1%}" for m in peers),
                         "goal": f"<= {goal:.0%} at 24, below every peer at 12 and 24",
                         "verdict": ("met" if ours[24] <= goal and beats else
                                     f"{'met' if ours[24] <= goal else 'missed'} at 24; "
                                     f"{'below' if beats else 'not below'} every peer")})
        death = o.get("project_lake", {}).get("recommended_p_death@24")
        if death:
            rows.append({"what": "the model's own P(death before cycle 300) of `best`'s recommendation at 24, "
                                 f"over {n} variants x seeds", "figure": f"max {death['max']:.2f}, median "
                                                                     f"{death['median']:.2f}",
                         "goal": "never likely dead (<= 0.5)", "verdict": "met" if death["max"] <= 0.5 else "missed"})
    return rows


GOAL_RMSE, GOAL_RATIO, GOAL_COVERAGE, GOAL_PROCESS = 0.16, 0.6, (0.87, 0.95), 0.85


def surrogate_rows(s: dict, train_cells: int, n: int) -> list[dict]:
    """README rows: the surrogate's RMSE against the goals and the best baseline, its coverage overall and per
    process, for the `cathode train` path and for the intervals `cathode propose` records."""
    best = min(BASELINES, key=lambda m: s[m]["all"]["rmse"])
    p, base = s["project"], s[best]["all"]["rmse"]
    rmse_ok = p["all"]["rmse"] <= GOAL_RMSE and p["all"]["rmse"] <= GOAL_RATIO * base
    rows = [{"what": f"surrogate RMSE of log10 cycles-to-80 % on the whole recipe space (cut-off and C-rate "
                     f"included), {train_cells} training cells, median over {n} unseen virtual-lab variants",
             "figure": f"{p['all']['rmse']:.3f} ({p['all']['rmse'] / base:.2f} x best baseline {best} {base:.3f}); "
                       f"cells that faded {p['faded']['rmse']:.3f}, that shorted {_get(p, 'shorted', 'rmse'):.2f}; "
                       f"noise floor {s['noise_floor_rmse']:.3f}",
             "goal": f"<= {GOAL_RMSE} and <= {GOAL_RATIO} x best baseline",
             "verdict": "met" if rmse_ok else f"missed: {p['all']['rmse']:.3f}, "
                                              f"{p['all']['rmse'] / base:.2f} x"}]
    for name, label in (("project", "`cathode train`"), ("project_propose", "`cathode propose`")):
        m = s[name]
        worst = min(PROCESSES, key=lambda q: m[q]["coverage"])
        ok = GOAL_COVERAGE[0] <= m["all"]["coverage"] <= GOAL_COVERAGE[1] and m[worst]["coverage"] >= GOAL_PROCESS
        rows.append({"what": f"surrogate 90 % interval coverage, {label}, same cells and variants",
                     "figure": f"{m['all']['coverage']:.2f} (lowest process {worst} {m[worst]['coverage']:.2f}; "
                               f"shorted cells {_get(m, 'shorted', 'coverage'):.2f}), width "
                               f"{m['all']['width']:.2f} decades",
                     "goal": f"{GOAL_COVERAGE[0]}-{GOAL_COVERAGE[1]}, each process >= {GOAL_PROCESS}",
                     "verdict": "met" if ok else "missed"})
    return rows


def _get(scores: dict, sl: str, metric: str) -> float:
    return scores.get(sl, {}).get(metric, float("nan"))          # no variant had a cell in that slice


def print_summary(payload: dict) -> None:
    print(f"set {payload['set']}, variants {payload['config']['variants']} (medians over variants)")
    if "surrogate" in payload:
        s = payload["surrogate"]["summary"]
        print(f"(a) surrogate, whole space: noise floor RMSE {s['noise_floor_rmse']:.3f}; censored training cells "
              f"{s['censored_training_cells']:.0f}; project estimator(s) {s['project_estimators']}")
        slices = sorted({sl for m in SURROGATES for sl in s[m]})
        for model in SURROGATES:
            print(f"  {model:<15} " + "  ".join(f"{sl} {s[model][sl]['rmse']:.3f}/{s[model][sl]['coverage']:.2f}"
                                              for sl in slices if sl in s[model]) + "   (RMSE / coverage)")
        sim = s["project_vs_simulator_truth"]
        print("  project against the simulator's truth (as bench/surrogate.py): " + "  ".join(
            f"{sl} {v['rmse']:.3f}/{v['coverage']:.2f}" for sl, v in sim.items()))
    if "optimizer" in payload:
        print("(b) optimizer, regret / optimum (best tried | recommendation):")
        for method, st in payload["optimizer"]["summary"].items():
            if "skipped" in st:
                print(f"  {method:<13} skipped: {st['skipped']}")
                continue
            cells = [f"@{n}: {st[f'best_tried_regret_frac@{n}']['median_over_variants']:.3f} | "
                     f"{st[f'recommended_regret_frac@{n}']['median_over_variants']:.3f}"
                     for n in (12, 24) if f"best_tried_regret_frac@{n}" in st]
            print(f"  {method:<13} " + "   ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
