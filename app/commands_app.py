"""`cathode [--lake DIR] app [--port N]`: start the Streamlit app on the lake (added to the CLI by app/cli.py)."""
from __future__ import annotations


def add_commands(command) -> None:
    p = command("app", cmd_app, "start the Streamlit app on the lake (Ctrl+C stops it)")
    p.add_argument("--port", type=int, default=None, help="port to serve on (default: Streamlit's, 8501)")
    p.add_argument("--host", default=None, help="address to listen on (default: Streamlit's)")


def cmd_app(args) -> int:
    from app.demo import start_app
    return start_app(args.lake, port=args.port, host=args.host)
