"""Shared fixtures: the demo lakes of tests/models, and a real PostgreSQL server started for the session.

The server comes from the Debian `postgresql` package (.ci/run installs it): initdb + pg_ctl in a temporary folder,
listening on 127.0.0.1 only, run as the `postgres` user when the tests run as root (initdb refuses root). Under
CI=true a missing server or driver fails the test; elsewhere it is skipped with the reason.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.models.conftest import demo  # noqa: F401


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs a PostgreSQL server for this test: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        _unavailable("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb); "
                     "install the Debian package `postgresql`")
    try:
        import psycopg2  # noqa: F401  (the driver Optuna's RDB storage will use)
    except ImportError:
        _unavailable("the PostgreSQL driver is missing: pip install -e '.[postgres]'")
    bindir = Path(bins[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="cathode-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no `postgres` user to run the server as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def run(*args):
        return subprocess.run(prefix + [str(a) for a in args], check=True, capture_output=True, text=True,
                              timeout=120)
    try:
        run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        run(bindir / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60", "start", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr or exc.stdout}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
