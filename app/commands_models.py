"""`cathode train` and `cathode predict`: thin wrappers over models.registry (imported only when they run)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from app.cli import write_rows
from lake.errors import UsageError


def add_commands(command) -> None:
    from models.defaults import DEFAULT_N, DEFAULT_TARGETS
    p = command("train", cmd_train)
    p.description = ("train surrogate models (GP and boosted trees, the one with the lower grouped-CV RMSE kept, "
                     "with conformal 90 %% intervals) on the lake's cells and register them; a lake unchanged "
                     "since the last training with the same options keeps its models")
    p.add_argument("--target", action="append", metavar="NAME",
                   help="cycles_to_80, cycles_to_70, initial_areal_capacity or retention_N (repeatable; default: "
                        + " and ".join(DEFAULT_TARGETS) + ")")
    p.add_argument("--early", type=int, default=DEFAULT_N, metavar="N",
                   help=f"also train the early-life model on the first N cycles (default {DEFAULT_N}; 0: no)")
    p.add_argument("--estimator", choices=("gp", "gbt"), action="append", help="restrict the candidates")
    p.add_argument("--no-physics", action="store_true", help="recipe and microstructure features only")
    p.add_argument("--force", action="store_true", help="train anew even if the lake is unchanged")
    p = command("predict", cmd_predict)
    p.description = ("predict a target for the recipes of a cells.csv-shaped file, or (--under-test) the cycle "
                     "life of the lake's running cells from their first cycles")
    p.add_argument("file", type=Path, metavar="FILE", nargs="?")
    p.add_argument("--under-test", action="store_true", help="cells of the lake still above 80 %% retention: "
                   "cycles to 80 %% from their first N cycles (the early-life model)")
    p.add_argument("--target", default="cycles_to_80", help="target to predict (default cycles_to_80)")
    p.add_argument("--level", type=float, default=0.9, help="prediction interval level (default 0.9)")
    p.add_argument("--model", metavar="MODEL_ID", help="a registered model (default: the newest for the target)")
    p.add_argument("--out", type=Path, metavar="OUT.csv", help="write the rows with predictions as CSV")


def cmd_train(args) -> int:
    from models import registry
    rows = registry.train(args.lake, args.target or registry.DEFAULT_TARGETS, early_cycles=args.early or None,
                          kinds=tuple(args.estimator or ("gp", "gbt")), physics=not args.no_physics,
                          force=args.force)
    if rows and rows[0].get("unchanged"):
        print("the lake's cells and cycles are those these models were trained on, with the same options "
              f"(lake version {rows[0]['trained_on_version']}): kept them, nothing written (--force trains anew)")
    for row in rows:
        m = json.loads(row["metrics_json"])
        unc = m.get("rmse_uncensored")
        print(f"{row['model_id']}\n  target {row['target']} ({m['scale']}), estimator {row['estimator']}, "
              f"{row['n_cells']} cells ({m['n_censored']} censored), lake version {row['trained_on_version']}\n"
              f"  CV ({m['cv_scheme']}): RMSE {m['rmse']:.3f}"
              + (f", uncensored {unc:.3f}" if unc is not None else "")
              + f"; 90 % interval coverage {m['interval_coverage_90']:.2f}")
        by_kind = m.get("by_estimator", {})
        if len(by_kind) > 1:
            print("  kept the lower CV RMSE: " + ", ".join(
                f"{kind} {value}" + (" (kept)" if kind == row["estimator"] else "")
                for kind, value in distinct_digits({k: km["rmse"] for k, km in by_kind.items()}).items()))
        for note in row.get("notes", []):
            print(f"  note: {note}")


def distinct_digits(values: dict[str, float]) -> dict[str, str]:
    """Each value with the fewest significant digits (at least 4) that tell the values apart."""
    for digits in range(4, 17):
        text = {k: f"{v:.{digits}g}" for k, v in values.items()}
        if len(set(text.values())) == len(set(values.values())):
            return text
    return {k: repr(v) for k, v in values.items()}


def cmd_predict(args) -> int:
    from models import registry
    if args.under_test == (args.file is not None):
        raise UsageError("give either a cells.csv-shaped FILE or --under-test.")
    if args.under_test:
        frame, row = registry.predict_under_test(args.lake, args.level, args.model)
        if args.out:
            frame.write_csv(args.out)
            print(f"{frame.height} cells with cycles_to_80_pred/_lo/_hi written to {args.out}")
        else:
            write_rows(frame.to_arrow(), "table", sys.stdout)
        n_cycles = json.loads(row["metrics_json"])["early_cycles"]
        print(f"early-life model {row['model_id']} (first {n_cycles} cycles, "
              f"lake version {row['trained_on_version']}), {args.level:.0%} intervals, floored at the cycles tested; "
              f"{int(frame['beyond_measured_life'].sum())} cells reach past the longest life measured in training "
              "(beyond_measured_life = true: no cell in the lake has died that late yet, so treat those as guesses)")
        return 0
    frame, row = registry.predict(args.lake, args.file, args.target, args.level, args.model)
    flagged = registry.extrapolated(frame)
    if args.out:
        frame.write_csv(args.out)
        print(f"{frame.height} rows with {args.target}_pred/_lo/_hi written to {args.out}")
    else:
        keep = [c for c in frame.columns if c in ("cell_id", "process")] + \
            [f"{args.target}_pred", f"{args.target}_lo", f"{args.target}_hi", "extrapolation"]
        write_rows(frame.select(keep).to_arrow(), "table", sys.stdout)
    print(f"model {row['model_id']} (lake version {row['trained_on_version']}), {args.level:.0%} intervals; "
          f"{flagged} rows outside the training domain (extrapolation = true)")
