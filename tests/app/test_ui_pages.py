"""Every page of the Streamlit app through `streamlit.testing.v1.AppTest`, on a small lake with every kind of data,
and on an empty lake (each page explains what is missing instead of failing)."""
from __future__ import annotations

import re

from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app.ui.main import PAGES
from lake import store
from tests.app.test_ui_lake import MEASURED_CELLS, UI_CELLS, ui_lake_copy

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "ui" / "main.py")
TIMEOUT = 60


@pytest.fixture(scope="module")
def ui_lake(demo_lakes, tmp_path_factory):
    root = ui_lake_copy(demo_lakes, tmp_path_factory, "ui")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CATHODE_LAKE", str(root))
        yield root


@pytest.fixture
def app(ui_lake):
    return AppTest.from_file(MAIN, default_timeout=TIMEOUT)      # each test's first visit is its first run


def visit(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"views/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def datasets(chart) -> list[pa.Table]:
    """The Arrow tables a Vega-Lite chart element carries."""
    return [pa.ipc.open_stream(d.data.data).read_all() for d in chart.proto.datasets]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_overview(app, ui_lake):
    visit(app, "overview")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["lake version"] == str(store.lake_version(ui_lake))
    assert metrics["cells"] == str(UI_CELLS + 4) and metrics["EIS spectra"] == str(7 * MEASURED_CELLS)
    assert metrics["tomography volumes"] == str(MEASURED_CELLS)
    assert "No file was rejected." in texts(app.success)
    app.select_slider(key="overview_n").set_value(5).run()
    assert not app.exception


def test_cells_filters_and_compare(app):
    visit(app, "cells")
    total = UI_CELLS + 4                         # the virtual-lab cells and the seed paper's four
    assert f"{total} of {total} cells" in texts(app.caption)
    app.multiselect(key="cells_process").select("in_situ_polymerized").run()
    shown = int(texts(app.caption).split(f" of {total}")[0].split()[-1])
    assert 0 < shown < total
    app.multiselect(key="cells_compare").set_value(["VL-0001", "VL-0003"]).run()
    visit(app, "cycling")                       # the choice travels to the Cycling page
    assert app.multiselect(key="cycling_cells").value == ["VL-0001", "VL-0003"]
    assert charts(app) == 3


def test_cycling_quantity_and_dqdv(app):
    visit(app, "cycling")
    assert charts(app) == 3                      # per-cycle, voltage curves, dQ/dV
    app.radio(key="cycling_quantity").set_value("discharge capacity").run()
    assert "discharge capacity versus cycle" in texts(app.caption)
    assert "3.7–3.9 V band" in texts(app.caption)
    spec = app.get("vega_lite_chart")[2].proto.spec
    assert '"rect"' in spec and "dQ/dV" in spec
    band = [t for t in datasets(app.get("vega_lite_chart")[2]) if "lo" in t.column_names]
    assert band and (band[0]["lo"][0].as_py(), band[0]["hi"][0].as_py()) == (3.7, 3.9)   # the shaded 3.8 V band
    assert any("dqdv_mah_v" in t.column_names for t in datasets(app.get("vega_lite_chart")[2]))   # stored rows


def test_eis(app):
    visit(app, "eis")
    assert charts(app) == 2                      # Nyquist with fit, R_interface vs voltage
    assert "Dashed: fitted circuit" in texts(app.caption)
    fit = [t for t in datasets(app.get("vega_lite_chart")[0]) if "point_index" in t.column_names]
    assert fit and fit[0].num_rows > 0                      # the stored eis_fit_points, drawn as they are
    spectra = app.multiselect(key="eis_spectra")
    spectra.set_value(spectra.value[:1]).run()
    assert charts(app) == 2 and len(app.multiselect(key="eis_spectra").value) == 1


def test_microstructure(app):
    visit(app, "microstructure")
    assert charts(app) == 3                      # phase fractions, active area, contact histogram
    assert len(app.get("image")) == 1
    app.slider(key="micro_z").set_value(3).run()
    assert not app.exception


def test_literature(app):
    visit(app, "literature")
    assert charts(app) == 1
    origins = set(datasets(app.get("vega_lite_chart")[0])[0]["origin"].to_pylist())
    assert origins == {"published", "this lab"}
    app.toggle(key="lit_show_lab").set_value(False).run()
    assert set(datasets(app.get("vega_lite_chart")[0])[0]["origin"].to_pylist()) == {"published"}


def test_sql_console_page(app):
    visit(app, "sql")
    assert "rows in" in texts(app.caption)
    app.text_area(key="sql_text_cycle life per cell").set_value("select * from read_csv('/etc/passwd')")
    app.button(key="sql_run").click().run()
    assert "read_csv() refused" in texts(app.error)
    app.text_area(key="sql_text_cycle life per cell").set_value("select count(*) as n from cells")
    app.button(key="sql_run").click().run()
    assert not app.error and "1 rows in" in texts(app.caption)
    app.selectbox(key="sql_doc_table").set_value("timeseries").run()
    assert "Battery Data Format" in texts(app.markdown)


def test_models(app):
    visit(app, "models")
    assert charts(app) == 2                      # parity with intervals, feature importance
    assert {m.label for m in app.metric} >= {"CV RMSE", "90 % interval coverage"}
    assert "Trained on lake version" in texts(app.caption)
    assert "uncensored cells inside their 90 % interval" in texts(app.caption)
    importance = datasets(app.get("vega_lite_chart")[1])[0]
    assert abs(sum(importance["importance"].to_pylist()) - 1) < 1e-9 and "process" in importance["feature"].to_pylist()


def test_optimizer(app, ui_lake):
    visit(app, "optimizer")
    assert charts(app) == 4                      # Pareto front, campaign in lab time, regret, proposal intervals
    assert "on the front" in texts(app.caption)
    first = store.query(ui_lake, "SELECT min(proposal_id) AS p FROM proposals")["p"][0].as_py()
    app.selectbox(key="opt_pick").set_value(first)
    app.button(key="opt_accepted").click().run()
    assert not app.exception and not app.error
    assert f"{first} is now accepted." in texts(app.success)
    status = store.query(ui_lake, "SELECT status FROM proposals WHERE proposal_id = ?", [first])["status"][0]
    assert status.as_py() == "accepted"


def test_optimizer_shows_the_campaign_in_lab_time(app, ui_lake):
    """The demo's 40 cells on its cycler's 8 channels; its proposal batch, made today long after the demo's
    backdated cycles, named under the time line rather than drawn; and (a virtual-lab lake) the regret of the best
    recipe tried so far, from the simulator's true values."""
    visit(app, "optimizer")
    assert "Campaign in lab time" in texts(app.subheader)
    (spans,) = datasets(app.get("vega_lite_chart")[1])
    assert spans.num_rows == UI_CELLS and max(spans["lane"].to_pylist()) + 1 == 8
    assert f"{UI_CELLS} cells on 8 lanes" in texts(app.caption)
    assert re.search(r"Proposed after the last recorded cycle \(\d{4}-\d\d-\d\d\), not drawn: 4 on \d{4}-",
                     texts(app.caption))
    assert "best recipe tried so far, true value from the simulator" in texts(app.markdown)
    regret = datasets(app.get("vega_lite_chart")[2])[0]["regret_pct"].to_pylist()
    assert regret == sorted(regret, reverse=True) and 0 <= regret[-1] < regret[0] <= 100
    assert f"Now {regret[-1]:.1f} % short of it" in texts(app.caption)
    app.radio(key="opt_time_color").set_value("outcome").run()
    assert not app.exception
    outcomes = {o for t in datasets(app.get("vega_lite_chart")[1]) if "outcome" in t.column_names
                for o in t["outcome"].to_pylist()}
    assert "shorted" in outcomes and "fell below 80 %" in outcomes


def test_a_lake_without_cycle_times_says_so(tmp_path, monkeypatch):
    from ingest.pipeline import ingest
    from tests.conftest import CELLS_HEADER, CYCLES_HEADER, GOOD_CELLS, good_cycles, write_csv
    root = store.init(tmp_path / "untimed")
    ingest(root, [write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS),
                  write_csv(tmp_path / "cycles.csv", CYCLES_HEADER, good_cycles())], progress=False)
    monkeypatch.setenv("CATHODE_LAKE", str(root))
    at = visit(AppTest.from_file(MAIN, default_timeout=TIMEOUT), "optimizer")
    assert "No cycle end times in this lake yet" in texts(at.info)
    assert charts(at) == 1                       # the Pareto front only


def test_ingest_page(app):
    visit(app, "ingest")
    assert app.get("file_uploader") or "uploads" in texts(app.markdown)


@pytest.fixture
def empty_lake(tmp_path, monkeypatch):
    root = store.init(tmp_path / "empty")
    monkeypatch.setenv("CATHODE_LAKE", str(root))
    return root


@pytest.mark.parametrize("name", [p[0].removesuffix(".py") for p in PAGES])
def test_every_page_explains_an_empty_lake(empty_lake, name):
    at = visit(AppTest.from_file(MAIN, default_timeout=TIMEOUT), name)
    if name not in ("sql", "ingest"):
        assert at.info, f"{name}: no empty-state message"
        assert "yet" in texts(at.info) or "No " in texts(at.info)


def test_a_missing_lake_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("CATHODE_LAKE", str(tmp_path / "nowhere"))
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    assert "No lake at" in texts(at.error) and "cathode" in texts(at.error)


def test_the_app_sees_a_commit_made_while_it_is_open(app, ui_lake, tmp_path, cli):
    visit(app, "overview")
    before = {m.label: m.value for m in app.metric}["cells"]
    cells = tmp_path / "cells.csv"
    cells.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n"
                     "LIVE-1,hot_calendered,10,0,60,4.2,0.1\n")
    code, out, err = cli("--lake", ui_lake, "ingest", cells)    # the app holds no connection: the writer goes on
    assert code == 0, err
    import time
    time.sleep(1.1)                                             # the lake stamp is cached for at most 1 s
    app.run()
    assert int({m.label: m.value for m in app.metric}["cells"]) == int(before) + 1


def test_optimizer_propose_button_records_a_batch(app, ui_lake):
    before = store.query(ui_lake, "SELECT count(*) AS n FROM proposals")["n"][0].as_py()
    visit(app, "optimizer")
    app.number_input(key="opt_n").set_value(2)
    app.button[-1].click().run(timeout=120)                # the form's Propose button
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "Proposed 2 recipes" in texts(app.success)
    assert store.query(ui_lake, "SELECT count(*) AS n FROM proposals")["n"][0].as_py() == before + 2
