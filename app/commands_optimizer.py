"""`cathode propose`, `cathode proposals [list|accept|reject]`, `cathode best`: thin wrappers over optimizer."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from app.cli import write_rows
from lake.errors import UsageError


def _space_args(p) -> None:
    p.add_argument("--campaign", type=Path, metavar="FILE.toml",
                   help="campaign file: [bounds] name = [lo, hi], [fix], [min], [max], processes = [...]")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="fix a parameter, e.g. temperature_c=60")
    p.add_argument("--min", action="append", dest="minimum", metavar="NAME=VALUE", help="raise a lower bound")
    p.add_argument("--max", action="append", dest="maximum", metavar="NAME=VALUE", help="lower an upper bound")
    p.add_argument("--bounds", action="append", metavar="NAME=LO:HI", help="set both bounds")
    p.add_argument("--process", help="search only these processes (comma-separated)")


def add_commands(command) -> None:
    from optimizer.objectives import NAMES
    p = command("propose", cmd_propose)
    p.add_argument("--n", type=int, help="recipes in the batch (default: the campaign file's n, else 4)")
    p.add_argument("--objective", help=f"{', '.join(NAMES)} or a comma list (default: pareto = cycle_life and "
                   "areal_capacity)")
    _space_args(p)
    p.add_argument("--replicates", type=int, default=0, help="also make again the top measured recipes (count)")
    p.add_argument("--storage", help="Optuna storage URL, e.g. postgresql://user@host/db (default: a journal "
                   "file in the lake)")
    p.add_argument("--study", help="Optuna study name (default: cathode-<objectives>)")
    p.add_argument("--seed", type=int, help="random seed (default: fresh)")
    p.add_argument("--after-cycles", type=int, metavar="N", help="the campaign's rule: propose only once every "
                   "running cell has run N cycles (default: the campaign file's after_cycles, else 0); running "
                   "cells are learnt from through their first cycles")
    p.add_argument("--out", type=Path, metavar="proposals.csv", help="write a cells.csv to fill in (with "
                   "proposal_id) for the lab")
    p = command("proposals", cmd_proposals)
    p.add_argument("action", nargs="?", choices=("list", "accept", "reject"), default="list")
    p.add_argument("proposal_id", nargs="?", metavar="ID")
    p.add_argument("--note", help="why (recorded with the status change)")
    p.add_argument("--status", help="list only proposals with this status")
    p = command("virtual-lab", cmd_virtual_lab)
    p.description = ("make and cycle the recipes of a proposals file in the virtual lab (the demo's simulated lab): "
                     "writes DIR/cells.csv and DIR/cycles.csv to ingest")
    p.add_argument("file", type=Path, metavar="p.csv", help="a `cathode propose --out` file (or any cells.csv)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for cells.csv and cycles.csv")
    p.add_argument("--seed", type=int, default=0, help="virtual-lab noise seed (default 0)")
    p.add_argument("--cycles", type=int, default=300, help="cycles each cell is tested for (default 300)")
    p = command("best", cmd_best)
    p.description = ("the measured recipe the model believes best (posterior mean, replicates pooled), with its "
                     "interval")
    p.add_argument("--objective", help="objective (default: pareto; ranked by the first, cycle_life)")
    p.add_argument("--top", type=int, default=1, help="how many recipes to show (default 1)")


def cmd_propose(args) -> int:
    from optimizer import proposals, space as spaces
    space = spaces.build(args.fix, args.minimum, args.maximum, args.bounds,
                         args.process.split(",") if args.process else None, args.campaign)
    spec = spaces.campaign_file(args.campaign) if args.campaign else {}
    batch = proposals.propose(args.lake, args.n if args.n is not None else spec.get("n", 4), args.objective or spec.get("objective"), space,
                              storage=args.storage, study=args.study or spec.get("study"),
                              replicates=args.replicates, seed=args.seed, out=args.out,
                              after_cycles=args.after_cycles if args.after_cycles is not None
                              else spec.get("after_cycles", 0))
    for note in batch.notes:
        print(f"note: {note}")
    _print_proposals(batch.rows)
    print(f"{len(batch.rows)} proposals recorded (lake version {batch.lake_version}); space: {space.describe()}")
    if args.out:
        print(f"fill in {args.out} (porosity, active mass … as measured), run the cells, then "
              f"`cathode ingest {args.out} cycles.csv`")


def _print_proposals(rows: list[dict]) -> None:
    from lake.recipe import RECIPE
    table = []
    for r in rows:
        preds = json.loads(r["predictions_json"]) if r.get("predictions_json") else {}
        pred = "; ".join(f"{k} {v['mean']:.3g} [{v['lo']:.3g}, {v['hi']:.3g}]" for k, v in preds.items())
        table.append({"proposal_id": r["proposal_id"], "status": r.get("status", "proposed"), "kind": r["kind"],
                      **{c: r[c] for c in RECIPE}, "predicted (90 % interval)": pred or "-",
                      "learnt from": _relied(r), "result_cell_id": r.get("result_cell_id")})
    if table:
        import pyarrow as pa
        write_rows(pa.Table.from_pylist(table), "table", sys.stdout)


def _relied(row: dict) -> str:
    """What a proposal's batch learnt from: finished and running cells, and whether the early-life model that read
    the running ones was trustworthy."""
    if row.get("finished_cells") is None:
        return "-"
    trust = {True: "; early-life trusted", False: "; early-life NOT yet trusted", None: ""}[row["early_life_trusted"]]
    return f"{row['finished_cells']} finished, {row['running_cells']} running{trust}"


def cmd_proposals(args) -> int:
    from lake import store
    from optimizer import proposals
    if args.action == "list":
        rows = store.query(args.lake, "SELECT * FROM proposals ORDER BY lake_version, proposal_id").to_pylist()
        rows = [r for r in rows if not args.status or r["status"] == args.status]
        if not rows:
            print("no proposals" + (f" with status {args.status}" if args.status else ""))
        _print_proposals(rows)
        return 0
    if not args.proposal_id:
        raise UsageError(f"`{args.action}` needs a proposal id.", argument="ID",
                         expected="an id that `cathode proposals` lists", found="nothing")
    status = {"accept": "accepted", "reject": "rejected"}[args.action]
    result = proposals.set_status(args.lake, args.proposal_id, status, args.note)
    print(f"proposal {result['proposal_id']}: {result['was']} -> {result['status']}")


def cmd_virtual_lab(args) -> int:
    from virtual_lab.labs import fill_proposals
    cells, cycles = fill_proposals(args.file, args.out, seed=args.seed, n_cycles=args.cycles)
    print(f"the virtual lab made and cycled the cells of {args.file}: {cells}, {cycles}\n"
          f"next: cathode --lake {args.lake} ingest {cells} {cycles}")


def cmd_best(args) -> int:
    from optimizer import proposals
    from optimizer.acquisition import MAX_P_DEATH
    rows, objectives = proposals.best(args.lake, args.objective, args.top)
    obj = objectives[0]
    if rows:
        print(f"note: {rows[0]['reliance'].describe()}")
    if rows and rows[0]["not_worth_running"]:
        print("note: running cells unlikely to beat the recipe below (ending their tests frees their channels): "
              + ", ".join(f"{c} ({p:.2f})" for c, p in rows[0]["not_worth_running"]))
    # a bound: cycle life of a cell still above 80 % when its test ended (at least), or capacity at cycle N of a
    # test that ended before N (at most)
    sign = "≥ " if obj.name == "cycle_life" else "≤ "
    for rank, row in enumerate(rows, start=1):
        p = row["prediction"][obj.name]
        recipe = ", ".join(f"{k}={_number(v)}" + (f" (blank; imputed {row['imputed'][k]:.3g})"
                                                   if k in row["imputed"] else "")
                           for k, v in row["recipe"].items())
        measured = ", ".join((sign if b else "") + f"{m:.4g}" for m, b in zip(row["measured"], row["bound"]))
        print(f"{rank}. {recipe}\n   {obj.name}: posterior mean {p['mean']:.4g} {obj.unit}, 90 % interval "
              f"[{p['lo']:.4g}, {p['hi']:.4g}]; {row['replicates']} replicate(s) "
              f"({', '.join(c for c in row['cells'] if c)}), measured {measured}")
        if row["p_death"] is not None:
            print(f"   the model's chance that a new cell of it dies before cycle {obj.n_cycles}: {row['p_death']:.2f}"
                  + (" (likely dead: ranked after every recipe that is not)" if row["p_death"] > MAX_P_DEATH
                     else ""))
        if all(row["bound"]):
            print(f"   note: every cell of this recipe is censored ({sign.strip()} the value its test reached); "
                  "the posterior mean extrapolates past the end of its test")


def _number(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
