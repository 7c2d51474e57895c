"""Start-up of the `cathode` command: wall time of the commands a person types most, each a fresh process, on a
demo lake, beside a bare `python -c pass` measured in the same run (the ratio survives a noisy machine)."""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {"cathode --help": ["--help"], "cathode template cells": ["template", "cells"],
            "cathode info": ["info"], 'cathode sql "select 1"': ["sql", "select 1"],
            "cathode train --help": ["train", "--help"], "cathode propose --help": ["propose", "--help"]}
GOAL_S = 0.4              # for --help, template, info and sql (issue: first contact)


def demo_lake(work: Path) -> Path:
    """A 40-cell demo lake (no models), built once under ``work`` and reused."""
    root = work / "startup-demo"
    if not (root / "lake.duckdb").exists():
        subprocess.run([sys.executable, "-m", "app.cli", "--lake", str(root), "demo", "--no-app", "--no-loop"],
                       check=True, capture_output=True)
    return root


def wall(argv: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def run(work: Path, repeat: int = 7) -> dict:
    root = demo_lake(work)
    cathode = str(Path(sys.executable).with_name("cathode"))
    python = wall([sys.executable, "-c", "pass"], repeat)
    out = {"python_pass_s": round(statistics.median(python), 3), "repeat": repeat, "commands": {}}
    for name, args in COMMANDS.items():
        times = wall([cathode, "--lake", str(root), *args], repeat)
        med = statistics.median(times)
        out["commands"][name] = {"median_s": round(med, 3), "min_s": round(min(times), 3),
                                 "ratio_to_python": round(med / out["python_pass_s"], 1)}
    return out


def table(result: dict) -> list[dict]:
    goal = [n for n in result["commands"] if "train" not in n and "propose" not in n]
    worst = max(goal, key=lambda n: result["commands"][n]["median_s"])
    w = result["commands"][worst]
    figures = "; ".join(f"`{n}` {r['median_s']:.2f} s" for n, r in result["commands"].items())
    return [{"what": "`cathode` start-up on the demo lake (median of "
                     f"{result['repeat']} fresh processes; `python -c pass` {result['python_pass_s']:.2f} s)",
             "figure": f"{figures}; slowest of the four: **{w['median_s']:.2f} s**",
             "goal": f"≤ {GOAL_S} s each (--help, template, info, sql)",
             "verdict": "met" if w["median_s"] <= GOAL_S else f"missed by {w['median_s'] - GOAL_S:.2f} s",
             "peak_mb": ""}]
