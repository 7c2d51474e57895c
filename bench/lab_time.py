"""`python bench/lab_time.py --set tune`: regret of the recommendation against lab days, when cycler time is the
scarce resource. A virtual-lab variant plays the lab; C channels (default 8), batches of B (default 4), each cell on
its channel for its test (2 h / C-rate a cycle: 300 cycles at 0.1 C are 250 days; fewer when it dies or shorts).
The campaign starts at day 0 with the variant's four seed cells finished and runs to a horizon (default 1500 lab
days) or an experiment cap (default 48 cells).

Rules (--strategies):
  wait       today's loop: the next batch of B only once every cell has finished (B of the C channels used)
  after:N    the next batch once B channels are free and every running cell has run N cycles; `cathode propose`
             learns from every cell in the lake, finished or running (the lake sees exactly the cycles each cell
             has run by then: continued cycles.csv files, `end_of_test` once its test ended)
  after:N+stop  as after:N, and at every record the lab ends the tests `cathode best` names as not worth their
             channel (a running cell whose first cycles give it under 5 % chance of beating the recommendation)
  tpe, baybe peers (Optuna TPE multivariate + constant liar; BayBE defaults, needs .venv-bench/peers) told only
             finished cells, asked a batch whenever B channels are free, cells still running pending by their
             own rule
Recorded at every decision, every test end and every --record-every days (default 25): lab day, cells started
and finished, regret / optimum (noise-free, as bench/generalization.py) of the recommendation (`cathode best`'s top
recipe for delivered_capacity:300; the peers: the best measured finished cell) and of the best recipe started.
Between records the recommendation is held. Summary, medians over variants: lab days until the recommendation is
first within 5 % of the optimum (censored at the horizon: a ratio to a censored `wait` is an upper bound) and its
ratio to `wait`'s, the day from which it stays within 5 %, regret at fixed days and at the horizon. JSON and a
plot (median regret against lab days) in bench/results/lab-time-<set>.{json,png}.

  python bench/lab_time.py --set tune --variants 1 --horizon-days 400 --strategies wait,after:50   # a smoke run
  # 1500 days: 1-1.5 min per project campaign (60-90 `best` calls), 1.5 min BayBE, under 1 s TPE
  .venv-bench/peers/bin/python bench/lab_time.py --set report --variants 101,102,103,104,105,106,107,108 --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")            # shared machine: one thread per process
PROJECT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != PROJECT / "bench"]   # bench/optimizer.py ≠ optimizer
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from bench import harness  # noqa: E402
from bench.baselines import OBJECTIVE, measured_values, peer  # noqa: E402
from bench.generalization import SETS, _map, best_measured, true_value  # noqa: E402
from bench.lab_clock import (STOP, Cell, Clock, cycles_until, days_per_cycle, may_start, next_day,  # noqa: E402
                              on_grid, parse_rule, read_tests, stop)
from bench.lake_loop import RECIPE, ingest_files, new_lake, recommendation  # noqa: E402
from optimizer.proposals import propose  # noqa: E402
from optimizer.space import BENCHMARK_SPACE  # noqa: E402
from virtual_lab import variants  # noqa: E402
from virtual_lab.lab import seed_recipes  # noqa: E402
from virtual_lab.labs import fill_proposals, virtual_lab  # noqa: E402

PEERS = ("tpe", "baybe")
STRATEGIES = ("wait", "after:25", "after:50", "after:100", *PEERS)
WITHIN, GOAL_RATIO = 0.05, 0.35
REACH = ("within", "stay_within")                    # first reached, or reached and kept to the horizon
RATIO = {"within": "ratio_to_wait", "stay_within": "ratio_to_wait_staying"}
AT_DAYS = (250, 500, 750, 1000, 1500)
RECORD_EVERY_DAYS = 25.0
TEST_CYCLES = 300


def lake_cells(form: Path, tests: pl.DataFrame, day: float | None) -> list[Cell]:
    """The cells of a filled form, started at ``day`` (None: the seed's cells, ended by day 0)."""
    length = dict(tests.group_by("cell_id").agg(pl.col("cycle_index").max()).iter_rows())
    cells = []
    for row in pl.read_csv(form).to_dicts():
        n, per = max(1, int(length.get(row["cell_id"], 1))), days_per_cycle(row["c_rate"])
        cells.append(Cell(row["cell_id"], {c: row[c] for c in RECIPE}, -n * per if day is None else day, n, per))
    return cells


def project_campaign(k: int, rule: str, seed: int, channels: int, batch: int, horizon: float, cap: int,
                     every: float = RECORD_EVERY_DAYS, keep: str | None = None) -> dict:
    """A campaign of `cathode propose` / ingest / `cathode best` on the lab's clock, a real lake in a temporary
    folder (``keep``: a folder to keep it in, for tests)."""
    lab, after = variants.variant(k), parse_rule(rule)
    clock, tests, batches, records = Clock(channels), [], [], []
    with tempfile.TemporaryDirectory(prefix="cathode-lab-time-") as tmp:
        folder = Path(keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        root, seed_form = new_lake(folder, lab)

        def start(form: Path, b: int, day: float | None) -> None:
            cells_csv, cycles_csv = fill_proposals(form, folder / f"lab{b}", seed=seed * 1000 + b + 1, lab=lab)
            tests.append(read_tests(cycles_csv))
            ingest_files(root, [cells_csv])
            cells = lake_cells(form, tests[-1], day)
            clock.start(cells, 0.0 if day is None else day)
            if day is not None:
                batches.append({"day": day, "running_before": len(clock.running(day)) - len(cells),
                                "cells": [{"cell_id": c.cell_id, "start_day": c.start_day, "cycles": c.cycles,
                                           "days_per_cycle": c.days_per_cycle} for c in cells]})

        def sync(day: float) -> None:
            rows = cycles_until(pl.concat(tests), clock.cells, day)
            if rows.height:
                path = folder / f"cycles-day{day:011.6f}.csv"
                rows.write_csv(path)
                ingest_files(root, [path])

        start(seed_form, -1, None)
        day, started, ended_before, stopped = 0.0, 0, -1, 0
        while True:
            sync(day)
            proposed = False
            while started < cap and may_start(rule, clock, day, batch):
                n = min(batch, cap - started, clock.free(day))
                form = folder / f"p{len(batches)}.csv"
                propose(root, n, OBJECTIVE, BENCHMARK_SPACE, seed=seed * 1000 + len(batches), out=form)
                start(form, len(batches), day)
                started, proposed = started + n, True
            finished = len(clock.finished(day))
            if proposed or finished != ended_before or on_grid(day, every):
                recipe, p_death, hopeless = recommendation(root, OBJECTIVE)
                if rule.endswith(STOP):
                    stopped += stop(clock.cells, set(hopeless), day)
                records.append({**_record(k, day, clock, recipe, p_death), "stopped": stopped})
                ended_before = finished
            day = next_day(clock, day, after, every)
            if day > horizon + 1e-9:
                break
        if records[-1]["day"] < horizon:
            sync(horizon)
            recipe, p_death, _ = recommendation(root, OBJECTIVE)
            records.append(_record(k, horizon, clock, recipe, p_death))
    return {"variant": k, "strategy": rule, "seed": seed, "records": records, "batches": batches}


def _record(k: int, day: float, clock: Clock, recipe: dict, p_death: float | None = None) -> dict:
    """What the lab has at ``day``: cells started and finished (the seed's not counted), cells on channels, and the
    true values of the recommendation, of the best recipe started and of the best finished."""
    done = clock.finished(day)
    return {"day": round(day, 3), "started": sum(c.start_day >= 0 for c in clock.cells),
            "finished": sum(c.start_day >= 0 for c in done), "running": len(clock.running(day)),
            "recommended": truth(recipe, k), "best_started": max(truth(c.recipe, k) for c in clock.cells),
            "best_finished": max(truth(c.recipe, k) for c in done),
            **({"p_death": p_death} if p_death is not None else {})}


_TRUTH: dict = {}


def truth(recipe: dict, k: int) -> float:
    """bench/generalization.py's noise-free true value, remembered (records ask for the same recipes again)."""
    key = (k, *(recipe[c] for c in RECIPE))
    if key not in _TRUTH:
        _TRUTH[key] = true_value(recipe, k)
    return _TRUTH[key]


def peer_campaign(k: int, method: str, seed: int, channels: int, batch: int, horizon: float, cap: int,
                  every: float = RECORD_EVERY_DAYS) -> dict:
    """A peer on the lab's clock: told each cell's measured value when its test ends, asked a batch whenever
    ``batch`` channels are free; its recommendation is the best measured finished cell."""
    study, why = peer(method, BENCHMARK_SPACE, seed)
    if study is None:
        return {"variant": k, "strategy": method, "seed": seed, "skipped": why}
    lab = variants.variant(k)
    make = virtual_lab(TEST_CYCLES, seed=seed, lab=lab)
    clock, frames, batches, records = Clock(channels), {}, [], []

    def start(params: list[dict], day: float | None) -> list[Cell]:
        frame = make(params)
        cells = []
        for p, row, value in zip(params, frame.iter_rows(named=True), measured_values(frame)):
            n, per = max(1, row["cycles_tested"] or 1), days_per_cycle(p["c_rate"])
            cell = Cell(f"{method}-{len(clock.cells) + len(cells)}", {c: p[c] for c in RECIPE},
                        -n * per if day is None else day, n, per, value=float(value))
            frames[cell.cell_id] = pl.DataFrame([row])
            cells.append(cell)
        clock.start(cells, 0.0 if day is None else day)
        return cells

    told = {c.cell_id for c in start([asdict(r) for r in seed_recipes(lab).values()], None)}
    study.tell([c.recipe for c in clock.cells], [c.value for c in clock.cells])
    day, started, ended_before = 0.0, 0, -1
    while True:
        new = [c for c in clock.finished(day) if c.cell_id not in told]
        if new:
            study.tell([c.recipe for c in new], [c.value for c in new])
            told |= {c.cell_id for c in new}
        proposed = False
        while started < cap and may_start(method, clock, day, batch):
            n = min(batch, cap - started)
            cells = start(study.ask(n), day)
            batches.append({"day": day, "running_before": len(clock.running(day)) - n,
                            "cells": [c.cell_id for c in cells]})
            started, proposed = started + n, True
        if proposed or len(told) != ended_before or on_grid(day, every):
            records.append(_peer_record(k, day, clock, frames, told))
            ended_before = len(told)
        day = next_day(clock, day, None, every)
        if day > horizon + 1e-9:
            break
    if records[-1]["day"] < horizon:
        records.append(_peer_record(k, horizon, clock, frames, told))
    return {"variant": k, "strategy": method, "seed": seed, "records": records, "batches": batches}


def _peer_record(k: int, day: float, clock: Clock, frames: dict, told: set) -> dict:
    finished = pl.concat([frames[c] for c in frames if c in told], how="diagonal_relaxed")
    return _record(k, day, clock, best_measured(finished))


def campaign(k: int, strategy: str, seed: int, channels: int, batch: int, horizon: float, cap: int,
             every: float, done: str | None = None) -> dict:
    """One campaign; with ``done`` (a folder) its result is kept there as it finishes, and taken from there when an
    earlier run (same settings) left it: `--resume` after an interrupted run."""
    settings = [k, strategy, seed, channels, batch, horizon, cap, every]
    path = Path(done) / f"{k}-{strategy.replace(':', '')}-{seed}.json" if done else None
    if path and path.exists():
        kept = json.loads(path.read_text())
        if kept.get("settings") == settings:
            return kept
    t0 = time.perf_counter()
    run = peer_campaign if strategy in PEERS else project_campaign
    out = {**run(k, strategy, seed, channels, batch, horizon, cap, every),
           "seconds": round(time.perf_counter() - t0, 1), "settings": settings}
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out))
    return out


# ---------------------------------------------------------------- summary

def held(records: list[dict], key: str, day: float) -> float:
    """The value recorded last at or before ``day`` (held between records)."""
    return [r[key] for r in records if r["day"] <= day + 1e-9][-1]


def days_within(records: list[dict], optimum: float, within: float = WITHIN) -> float | None:
    """The first lab day the recommendation is within ``within`` of the optimum (None: not by the horizon)."""
    return next((r["day"] for r in records if (optimum - r["recommended"]) / optimum <= within), None)


def days_staying_within(records: list[dict], optimum: float, within: float = WITHIN) -> float | None:
    """The lab day from which the recommendation stays within ``within`` of the optimum to the horizon."""
    day = None
    for r in records:
        inside = (optimum - r["recommended"]) / optimum <= within
        day = (day if day is not None else r["day"]) if inside else None
    return day


def summarise(runs: list[dict], optima: dict, horizon: float) -> dict:
    out = {}
    at = [d for d in AT_DAYS if d <= horizon] + ([horizon] if horizon not in AT_DAYS else [])
    for strategy in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == strategy and "skipped" not in r]
        if not mine:
            out[strategy] = {"skipped": next(r["skipped"] for r in runs if r["strategy"] == strategy)}
            continue
        reach = {r["variant"]: days_within(r["records"], optima[r["variant"]]) for r in mine}
        stay = {r["variant"]: days_staying_within(r["records"], optima[r["variant"]]) for r in mine}
        s = {f"days_to_{name}_5pct": {"median_over_variants": float(np.median([horizon if d is None else d
                                                                               for d in days.values()])),
                                      "not_by_horizon": sum(d is None for d in days.values()), "per_variant": days}
             for name, days in (("within", reach), ("stay_within", stay))}
        for key in ("recommended", "best_started"):
            for d in at:
                per = {r["variant"]: (optima[r["variant"]] - held(r["records"], key, d)) / optima[r["variant"]]
                       for r in mine}
                s[f"{key}_regret_frac@{d:g}d"] = {"median_over_variants": float(np.median(list(per.values()))),
                                                   "per_variant": per}
        s["started_by_horizon"] = float(np.median([held(r["records"], "started", horizon) for r in mine]))
        s["finished_by_horizon"] = float(np.median([held(r["records"], "finished", horizon) for r in mine]))
        out[strategy] = s
    for reach in REACH:                  # each rule's days against wait's: first reach, and staying within
        wait = out.get("wait", {}).get(f"days_to_{reach}_5pct")
        for s in out.values():
            if wait and f"days_to_{reach}_5pct" in s:
                mine = s[f"days_to_{reach}_5pct"]["per_variant"]
                ratios = [(horizon if mine[k] is None else mine[k]) / (horizon if w is None else w)
                          for k, w in wait["per_variant"].items() if k in mine]
                s[RATIO[reach]] = {"of_medians": s[f"days_to_{reach}_5pct"]["median_over_variants"]
                                   / wait["median_over_variants"], "median_per_variant": float(np.median(ratios))}
    return out


def curves(runs: list[dict], optima: dict, horizon: float) -> dict:
    """Median over variants of the recommendation's regret on a daily grid, per strategy."""
    grid = np.arange(0, int(horizon) + 1)
    out = {}
    for strategy in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == strategy and "skipped" not in r]
        if mine:
            out[strategy] = np.median([[(optima[r["variant"]] - held(r["records"], "recommended", d))
                                        / optima[r["variant"]] for d in grid] for r in mine], axis=0)
    return {"day": grid, **out}


def plot(curve: dict, path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for strategy, values in curve.items():
        if strategy != "day":
            ax.step(curve["day"], 100 * values, where="post", label=strategy)
    ax.axhline(100 * WITHIN, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="lab days", ylabel="regret of the recommendation, % of optimum", title=title, ylim=(0, None))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def table(payload: dict) -> list[dict]:
    """README rows, one per reading of "within 5 %" (first reached; reached and kept to the horizon): lab days
    against `wait`'s (ratio of the medians, and the median of the per-variant ratios), and the final regret."""
    c, s, n = payload["config"], payload["summary"], len(payload["config"]["variants"])
    if "wait" not in s or "skipped" in s["wait"]:
        return []
    setting = (f"{c['channels']} channels, batches of {c['batch']}, {c['horizon_days']:g} lab days, at most "
               f"{c['max_experiments']} cells, median over {n} unseen variants")
    final = {m: v[f"recommended_regret_frac@{c['horizon_days']:g}d"]["median_over_variants"]
             for m, v in s.items() if "skipped" not in v}
    rows = []
    for reach, words in (("within", "first within 5 % of the optimum"),
                         ("stay_within", "within 5 % of the optimum and staying there to the horizon")):
        ran = [m for m in s if RATIO[reach] in s[m] and m != "wait"]
        days = {m: _days(s[m][f"days_to_{reach}_5pct"], c["horizon_days"]) for m in ["wait", *ran]}
        fast = [m for m in ran if m not in PEERS and s[m][RATIO[reach]]["of_medians"] <= GOAL_RATIO
                and final[m] <= final["wait"]]
        rows.append({
            "what": f"lab-time campaign ({setting}): lab days until `cathode best`'s recommendation is {words} "
                    "(regret at the horizon in brackets)",
            "figure": f"wait {days['wait']} ({final['wait']:.1%}); " + "; ".join(
                f"{m} {days[m]} = {s[m][RATIO[reach]]['of_medians']:.2f} x wait, per variant "
                f"{s[m][RATIO[reach]]['median_per_variant']:.2f} x ({final[m]:.1%})" for m in ran),
            "goal": f"<= {GOAL_RATIO} x wait's days, final regret no worse than wait's",
            "verdict": f"met by {', '.join(fast)} (ratio of medians)" if fast else "missed"})
    return rows


def _days(d: dict, horizon: float) -> str:
    """A median of first-reach days; censored at the horizon when most variants did not get there."""
    m = d["median_over_variants"]
    return f">= {horizon:g} d (not reached)" if m >= horizon and d["not_by_horizon"] else f"{m:.0f} d"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=tuple(SETS), required=True)
    parser.add_argument("--variants", default=None, help="comma-separated subset of the set (default: all)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="wait, after:N, tpe, baybe")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--horizon-days", type=float, default=1500)
    parser.add_argument("--max-experiments", type=int, default=48)
    parser.add_argument("--record-every", type=float, default=RECORD_EVERY_DAYS,
                        help="lab days between records besides decisions and test ends")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--resume", action="store_true", help="keep each campaign's result as it finishes in "
                        "bench/results/lab-time-<set>.campaigns/ and reuse an earlier run's with the same settings")
    args = parser.parse_args(argv)
    chosen = tuple(int(v) for v in args.variants.split(",")) if args.variants else SETS[args.set]
    if not set(chosen) <= set(SETS[args.set]):
        parser.error(f"--variants must be in the {args.set} set {SETS[args.set]}")
    strategies = args.strategies.split(",")
    for rule in strategies:
        if rule not in PEERS:
            parse_rule(rule)
    if args.batch > args.channels:
        parser.error("--batch must not exceed --channels")
    started = time.perf_counter()
    optima = {k: variants.optimum(k) for k in chosen}
    done = str(harness.RESULTS / f"lab-time-{args.set}.campaigns") if args.resume else None
    jobs = [(k, m, args.seed, args.channels, args.batch, args.horizon_days, args.max_experiments, args.record_every,
             done)
            for k in chosen for m in strategies]
    runs = _map(campaign, jobs, args.workers)
    values = {k: v for k, (v, _) in optima.items()}
    payload = {"machine": harness.machine(), "set": args.set,
               "config": {**vars(args), "variants": list(chosen), "strategies": strategies,
                          "objective": OBJECTIVE, "hours_per_cycle": "2 / C-rate (0.1 C: 20 h)"},
               "versions": harness.versions("optuna", "torch", "baybe"),
               "optima": {k: {"value": v, "recipe": r} for k, (v, r) in optima.items()},
               "summary": summarise(runs, values, args.horizon_days), "runs": runs}
    payload["seconds"] = round(time.perf_counter() - started, 1)
    if args.set == "report":                      # only the report set's figures go to the README table
        payload["table"] = table(payload)
    name = f"lab-time-{args.set}"
    path = harness.write_result(name, payload, args.results)
    plot(curves(runs, values, args.horizon_days), path.with_suffix(".png"),
         f"{args.set} variants {','.join(map(str, chosen))}: median regret of the recommendation")
    print_summary(payload)
    return 0


def print_summary(payload: dict) -> None:
    c = payload["config"]
    print(f"set {payload['set']}, variants {c['variants']}, {c['channels']} channels, batch {c['batch']}, horizon "
          f"{c['horizon_days']:g} d, cap {c['max_experiments']} (medians over variants; {payload['seconds']} s)")
    for strategy, s in payload["summary"].items():
        if "skipped" in s:
            print(f"  {strategy:<10} skipped: {s['skipped']}")
            continue
        d, horizon = s["days_to_within_5pct"], c["horizon_days"]
        ratio = f" ({s['ratio_to_wait']['of_medians']:.2f} x wait)" if "ratio_to_wait" in s else ""
        stay = _days(s["days_to_stay_within_5pct"], horizon)
        regrets = "  ".join(f"{key.split('@')[1]} {v['median_over_variants']:.3f}" for key, v in s.items()
                            if key.startswith("recommended_regret"))
        print(f"  {strategy:<10} within 5 % at {_days(d, horizon)}{ratio}, {d['not_by_horizon']} variants not by "
              f"the horizon; stays within from {stay}; started "
              f"{s['started_by_horizon']:.0f}; regret {regrets}")


if __name__ == "__main__":
    sys.exit(main())
