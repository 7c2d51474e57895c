"""`python bench/app.py`: render time of every page of the Streamlit app on a lake of 1,000 virtual-lab cells.

The lake: `cathode demo` with a 1,000-cell virtual-lab campaign (lab templates, BDF time series, in-situ EIS and
tomography stacks through the ingest path, the derived analyses, trained models and a batch of proposals), so no
page is measured on its empty state. Each page is rendered with
`streamlit.testing.v1.AppTest` (the whole script run: queries, dataframes, charts) — first visit with empty caches
("cold") and a rerun ("warm"). Goal: every page ≤ 2 s. Writes bench/results/app.json (its "table" rows join the
README's Benchmarks table; `--readme` rewrites that table through bench/harness.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != PROJECT / "bench"]
sys.path.insert(0, str(PROJECT))

GOAL_S = 2.0


def build_lake(root: Path, n_cells: int, seed: int = 11) -> dict:
    """The benchmark lake: `cathode demo` at n_cells (reused when it is already there with that many)."""
    from app.demo import build_demo, demo_loop
    from lake import store

    if store.exists(root) and store.query(root, "SELECT count(*) AS n FROM cells")["n"][0].as_py() >= n_cells:
        return {"built_s": 0.0, "reused": True}
    started = time.perf_counter()
    build_demo(root, n_cells=n_cells, seed=seed)
    demo_loop(root, seed=seed)
    return {"built_s": round(time.perf_counter() - started, 2), "reused": False}


def measure(root: Path, repeats: int = 3) -> dict:
    """Cold and warm render time of each page (best of ``repeats`` fresh sessions for cold)."""
    import logging
    os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    for name in ("streamlit", "streamlit.runtime"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from app.ui.main import PAGES
    os.environ["CATHODE_LAKE"] = str(root)
    main = str(PROJECT / "app" / "ui" / "main.py")
    warmup = AppTest.from_file(main, default_timeout=120).run()      # imports and the first script compile
    assert not warmup.exception, warmup.exception
    pages = {}
    for file, title, _icon, _url in PAGES:
        cold, warm = [], []
        for _ in range(repeats):
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_file(main, default_timeout=120)
            at.switch_page(f"views/{file}")
            t0 = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - t0)
            assert not at.exception, (title, [e.value for e in at.exception])
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
        pages[title] = {"cold_s": round(min(cold), 3), "warm_s": round(min(warm), 3)}
        print(f"  {title:<15} cold {pages[title]['cold_s']:.3f} s   warm {pages[title]['warm_s']:.3f} s", flush=True)
    return pages


def table(result: dict) -> list[dict]:
    pages = result["pages"]
    slowest = max(pages, key=lambda p: pages[p]["cold_s"])
    worst = pages[slowest]["cold_s"]
    return [{"what": f"app page render, {result['n_cells']:,}-cell lake (slowest page: {slowest}, first visit)",
             "figure": f"{worst:.2f} s (warm {max(p['warm_s'] for p in pages.values()):.2f} s)",
             "goal": f"≤ {GOAL_S:g} s", "verdict": "met" if worst <= GOAL_S else f"missed by {worst - GOAL_S:.2f} s",
             "peak_mb": result.get("peak_rss_mb")}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cathode-bench-app")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--readme", action="store_true", help="rewrite the README Benchmarks table afterwards")
    args = parser.parse_args(argv)
    from bench import harness
    root = args.work / "lake"
    root.parent.mkdir(parents=True, exist_ok=True)
    print(f"building a {args.cells}-cell lake at {root} …", flush=True)
    build = build_lake(root, args.cells)
    print("rendering pages …", flush=True)
    pages = measure(root, args.repeats)
    result = {"n_cells": args.cells, "build": build, "pages": pages, "goal_s": GOAL_S,
              "peak_rss_mb": round(harness.peak_rss_mb(), 1)}
    payload = {"machine": harness.machine(), "versions": harness.versions("cathode-lake", "streamlit", "duckdb",
                                                                          "altair", "pandas"),
               "result": result, "table": table(result)}
    path = harness.write_result("app", payload)
    for row in payload["table"]:
        print(f"{row['what']}: {row['figure']} [{row['verdict']}]")
    print(f"-> {path.relative_to(PROJECT)}")
    if args.readme:
        harness.update_readme(payload["machine"])
    return 0 if all(p["cold_s"] <= GOAL_S for p in pages.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
