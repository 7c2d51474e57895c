"""`cathode app` and `cathode demo`: the Streamlit app on a lake, and the demo lake built from the virtual lab."""
from __future__ import annotations

import os
import sys


def add_commands(command) -> None:
    p = command("app", cmd_app)
    p.add_argument("--port", type=int, default=None, help="port to serve on (default: Streamlit's, 8501)")
    p.add_argument("--host", default=None, help="address to listen on (default: Streamlit's)")
    p = command("demo", cmd_demo)
    p.add_argument("--no-app", action="store_true", help="stop after printing the summary")
    p.add_argument("--no-loop", action="store_true", help="do not train models and propose recipes")
    p.add_argument("--port", type=int, help="port of the app (default: Streamlit's, 8501)")
    p.add_argument("--cells", type=int, default=40, help="virtual-lab cells in the campaign (default 40)")
    p.add_argument("--seed", type=int, default=7, help="virtual-lab seed (default 7)")


def cmd_app(args) -> int:
    from app.demo import start_app
    return start_app(args.lake, port=args.port, host=args.host)


def cmd_demo(args) -> int:
    from app.demo import build_demo, demo_loop, start_app
    summary = build_demo(args.lake, n_cells=args.cells, seed=args.seed,
                         progress=sys.stderr.isatty() and not os.environ.get("CI"))
    print(summary, flush=True)
    if not args.no_loop:
        print("training the surrogate models and proposing the next recipes ...", flush=True)
        print(demo_loop(args.lake, seed=args.seed) or "model and proposals already in the lake")
    if not args.no_app:
        print("starting the app; it runs until you press Ctrl+C", flush=True)
        return start_app(args.lake, port=args.port)
