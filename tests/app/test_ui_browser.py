"""End to end in a real headless Chromium (Debian's `chromium`, driven by Playwright; no browser download): serve
the app on 127.0.0.1, open every page, work a widget, wait for the rerender, check what it shows, take a screenshot;
and throw the SQL console's attack set at it through the browser."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from app.demo import app_command
from tests.app.test_ui_lake import UI_CELLS, ui_lake_copy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
PROJECT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 30_000
pytestmark = pytest.mark.slow


def _need_browser():
    """Chromium and Playwright, or a skip with the reason — a failure under CI=true, where both must be there."""
    problems = []
    if not Path(CHROMIUM).exists():
        problems.append("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed (pip install -e '.[test]')")
    if problems:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("; ".join(problems))
        pytest.skip("; ".join(problems))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo_lakes, tmp_path_factory):
    _need_browser()
    root = ui_lake_copy(demo_lakes, tmp_path_factory, "browser")
    port = _free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    cmd = app_command(root, port=port, host="127.0.0.1", headless=True)
    cmd[4:4] = ["--server.fileWatcherType", "none", "--global.developmentMode", "false"]
    log = open(tmp_path_factory.getbasetemp() / "streamlit.log", "w")
    proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.read().strip() == b"ok":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start: {Path(log.name).read_text()[-2000:]}")
        time.sleep(0.2)
    yield {"url": url, "root": root}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser):
    """One tab for the module: pages are reached through the app's own navigation, as a person would."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    yield pg
    context.close()


TITLES = {"": "Overview", "cells": "Cells", "cycling": "Cycling", "eis": "EIS", "microstructure": "Microstructure",
          "literature": "Literature", "sql": "SQL", "models": "Models", "optimizer": "Optimizer", "ingest": "Ingest"}


def _open(page, server, path: str, heading: str):
    """Go to a page: by the sidebar link once the app is loaded (no reload), else by URL."""
    from playwright.sync_api import expect
    link = page.locator("[data-testid='stSidebarNav'] a").filter(has_text=TITLES[path])
    if page.url.startswith(server["url"]) and link.count():
        link.first.click()
    else:
        page.goto(f"{server['url']}/{path}")
    expect(page.get_by_role("heading", name=heading).first).to_be_visible()
    _settled(page)


def _settled(page):
    """Wait until Streamlit has finished the current run (its 'running' status widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS)
    assert page.locator("[data-testid='stException']").count() == 0, page.locator(
        "[data-testid='stException']").first.inner_text()


def _pick(page, label: str, option: str):
    """Choose ``option`` in the multiselect or selectbox labelled ``label``."""
    widget = page.locator("[data-testid='stMultiSelect'], [data-testid='stSelectbox']").filter(has_text=label).first
    widget.locator("input").first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")


def _shot(page, tmp_path, name: str):
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def _chart(page, text: str):
    """The Vega-Lite chart whose SVG shows ``text`` (an axis title, a legend entry)."""
    return page.locator("[data-testid='stVegaLiteChart']").filter(has_text=text).first


def _charts(page) -> int:
    return page.locator("[data-testid='stVegaLiteChart']").count()


def test_overview_shows_counts_and_reacts(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "", "cathode-lake")
    expect(page.get_by_text("Latest ingests")).to_be_visible()
    expect(page.get_by_text("No file was rejected.")).to_be_visible()
    page.get_by_role("link", name="Cells").first.click()              # the sidebar navigation
    expect(page.get_by_role("heading", name="Cells").first).to_be_visible()
    _shot(page, tmp_path, "overview_then_cells")


def test_cells_filter_rerenders_the_table(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "cells", "Cells")
    total = UI_CELLS + 4                         # the virtual-lab cells and the seed paper's four
    expect(page.get_by_text(f"{total} of {total} cells")).to_be_visible()
    _pick(page, "process", "in_situ_polymerized")
    expect(page.get_by_text(f"{total} of {total} cells")).to_have_count(0)
    _settled(page)
    caption = page.get_by_text(f" of {total} cells").first.inner_text()
    assert int(caption.split()[0]) < total
    assert _charts(page) >= 1
    _shot(page, tmp_path, "cells")


def test_cycling_switches_quantity_and_draws_dqdv(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "cycling", "Cycling")
    expect(page.get_by_text("retention versus cycle for")).to_be_visible()
    page.get_by_text("discharge capacity", exact=True).click()
    expect(page.get_by_text("discharge capacity versus cycle for")).to_be_visible()
    expect(_chart(page, "discharge capacity (mAh/g)")).to_be_visible()
    _settled(page)
    expect(page.get_by_text("3.7–3.9 V band")).to_be_visible()
    assert _charts(page) >= 3                                   # per-cycle, voltage curves, dQ/dV
    _shot(page, tmp_path, "cycling")


def test_eis_nyquist_and_interface_resistance(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "eis", "Impedance (EIS)")
    expect(page.get_by_text("Dashed: fitted circuit")).to_be_visible()
    nyquist = _chart(page, "-Z'' (ohm)")
    expect(nyquist).to_contain_text("4.20 V")
    spectra = page.locator("[data-testid='stMultiSelect']").filter(has_text="spectra").locator("input").first
    spectra.click()
    spectra.press("Backspace")                                  # drop the last spectrum: a rerun
    page.keyboard.press("Escape")
    expect(nyquist).not_to_contain_text("4.20 V")
    _settled(page)
    expect(_chart(page, "R interface (ohm)")).to_be_visible()
    _shot(page, tmp_path, "eis")


def test_microstructure_slice_viewer(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "microstructure", "Microstructure")
    expect(page.get_by_text("slice 24 of 48")).to_be_visible()
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("ArrowRight")
    expect(page.get_by_text("slice 25 of 48")).to_be_visible()
    _settled(page)
    expect(page.locator("[data-testid='stImage'] img").first).to_be_visible()
    _shot(page, tmp_path, "microstructure")


def test_literature_toggle(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "literature", "Literature")
    chart = _chart(page, "NCM loading")
    expect(chart).to_contain_text("this lab")
    page.get_by_text("show this lab's cells").click()
    _settled(page)
    expect(chart).to_contain_text("published")
    expect(page.get_by_text("10.1002/adfm.202305186").first).to_be_attached()     # the table (a canvas grid)
    _shot(page, tmp_path, "literature")


def test_models_and_optimizer(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "models", "Models")
    expect(page.get_by_text("inside their 90 % interval")).to_be_visible()
    _shot(page, tmp_path, "models")
    _open(page, server, "optimizer", "Optimizer")
    expect(page.get_by_text("measured cells are on the front")).to_be_visible()
    expect(page.get_by_role("heading", name="Campaign in lab time")).to_be_visible()
    expect(_chart(page, "cycler channel (lane)")).to_be_visible()
    expect(page.get_by_text("best recipe tried so far, true value from the simulator")).to_be_visible()
    expect(_chart(page, "regret (% of optimum)")).to_be_visible()
    page.get_by_text("outcome", exact=True).click()                  # colour the cells by outcome
    _settled(page)
    expect(_chart(page, "fell below 80 %")).to_be_visible()
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("[data-testid='stAlert']").filter(has_text=re.compile("is now rejected|not have it yet"))
           ).to_be_visible()
    _settled(page)
    _shot(page, tmp_path, "optimizer")


def _sql(page, query: str, click: bool = False):
    """Type a statement and run it: Ctrl+Enter commits the text (and runs it), or the Run button."""
    box = page.get_by_role("textbox", name="query")
    box.fill(query)
    if click:
        box.blur()
        _settled(page)
        page.get_by_role("button", name="Run").click()
    else:
        box.press("Control+Enter")
    _settled(page)


ATTACKS = {   # the list; test_ui_logic.py runs the longer one against the module
    "select * from read_csv('/etc/passwd')": "read_csv() refused",
    "select * from '/etc/passwd'": "file path used as a table",
    "COPY cells TO '/tmp/cathode_x.csv'": "COPY refused",
    "ATTACH '/tmp/cathode_x.db' AS x": "ATTACH refused",
    "INSTALL httpfs": "INSTALL and LOAD",
    "SET enable_external_access = true": "SET refused",
    "select 1; select 2": "one statement at a time",
    "DROP TABLE commits": "read-only",
}


def test_sql_console_runs_queries_and_refuses_attacks_in_the_browser(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "sql", "SQL console")
    _sql(page, "select count(*) as n from cells", click=True)
    expect(page.get_by_text("1 rows in")).to_be_visible()
    _sql(page, "select * from range(20000)")
    expect(page.get_by_text("showing the first 10,000")).to_be_visible()
    _shot(page, tmp_path, "sql")
    for query, reason in ATTACKS.items():
        _sql(page, query)
        alert = page.locator("[data-testid='stAlert']").filter(has_text="Refused")
        expect(alert).to_contain_text(reason, timeout=TIMEOUT_MS)
    assert not Path("/tmp/cathode_x.csv").exists() and not Path("/tmp/cathode_x.db").exists()
    _shot(page, tmp_path, "sql_refused")


def test_ingest_upload_goes_through_the_pipeline(page, server, tmp_path):
    from playwright.sync_api import expect
    _open(page, server, "ingest", "Ingest files")
    good = tmp_path / "cells.csv"
    good.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n"
                    "UP-1,in_situ_polymerized,13.0,0.05,60,4.2,0.1\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n"
                   "UP-2,in_situ_polymerized,-3,0.05,60,4.2,0.1\n")
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files([str(good), str(bad)])
    expect(page.get_by_text("bad.csv").first).to_be_visible()
    page.get_by_role("button", name="Ingest").click()
    expect(page.get_by_text("1 ingested, 0 duplicate, 1 rejected")).to_be_visible()
    expect(page.get_by_text("loading_mg_cm2").first).to_be_visible()
    uploads = list((server["root"] / "uploads").rglob("*.csv"))
    assert {p.name for p in uploads} >= {"cells.csv", "bad.csv"}
    _shot(page, tmp_path, "ingest")
    _open(page, server, "", "cathode-lake")
    expect(page.get_by_text("bad.csv").first).to_be_attached()   # the Overview lists the rejected file
