"""The `cathode` command as a user types it: exit codes, per-file lines, SQL formats, documentation."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CELLS_HEADER, CYCLES_HEADER, GOOD_CELLS, good_cycles, write_csv


def test_ingest_prints_a_line_per_file_and_sql_reads_it(cli, tmp_path):
    root = tmp_path / "lake"
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    cycles = write_csv(tmp_path / "cycles.csv", CYCLES_HEADER, good_cycles())
    code, out, err = cli("--lake", root, "ingest", tmp_path)             # a folder, recursively
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ingested", "cells_csv", "cell=A1,B1", "rows=2"]
    assert lines[1].split()[:4] == ["ingested", "cycles_csv", "cell=A1,B1", "rows=17"]
    assert lines[-1] == "2 ingested, 0 duplicate, 0 rejected; lake version 1"
    code, out, _ = cli("--lake", root, "sql", "select cell_id, cycles_to_80, censored_80 from cell_life order by 1",
                       "--format", "csv")
    assert list(csv.reader(io.StringIO(out))) == [["cell_id", "cycles_to_80", "censored_80"],
                                                  ["A1", "10", "True"], ["B1", "5", "False"]]
    code, out, _ = cli("--lake", root, "sql", "select count(*) as n from cycles", "--format", "json")
    assert json.loads(out) == [{"n": 17}]
    code, out, _ = cli("--lake", root, "sql", "select cell_id from cells order by 1")
    assert out.splitlines() == ["cell_id", "-------", "A1", "B1", "(2 rows)"]
    code, out, _ = cli("--lake", root, "ingest", cells, cycles)
    assert code == 0 and out.splitlines()[0].startswith("duplicate")


def test_a_rejected_file_exits_1_with_one_line_naming_it(cli, tmp_path):
    bad = write_csv(tmp_path / "cells.csv", CELLS_HEADER, [["X", "cold_calendered", -3, 0, 60, 4.2, 0.1, 1, 0.2]])
    code, out, err = cli("--lake", tmp_path / "lake", "ingest", bad)
    assert code == 1 and err.startswith("error: rejected ") and "Traceback" not in err
    reason = err.splitlines()[1].strip()
    assert reason.startswith(str(bad)) and "row 2, column 'loading_mg_cm2'" in reason and "-3" in reason
    assert out.splitlines() == ["0 ingested, 0 duplicate, 1 rejected; lake version 0"]
    code, out, _ = cli("--lake", tmp_path / "lake", "info")
    assert "version   0" in out and "rejected files           1" in out


def test_usage_and_library_errors(cli, tmp_path):
    assert cli("--lake", tmp_path, "frobnicate")[0] == 2
    code, out, err = cli("--lake", tmp_path / "none", "sql", "select 1")
    assert code == 1 and err.startswith("error: No lake at") and len(err.strip().splitlines()) == 1
    code, out, err = cli("--lake", tmp_path / "lake", "ingest", tmp_path / "missing.csv")
    assert code == 1 and "missing.csv: no such file or folder" in err


def test_debug_shows_the_traceback(tmp_path):
    env = {**os.environ, "CATHODE_LAKE": str(tmp_path / "none")}
    run = subprocess.run([sys.executable, "-m", "app.cli", "--debug", "sql", "select 1"], capture_output=True,
                         text=True, env=env, cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 1 and "Traceback" in run.stderr and "LakeError" in run.stderr


def test_sql_errors_name_the_problem(cli, lake):
    code, _, err = cli("--lake", lake, "sql", "select nope from cells")
    assert code == 1 and "nope" in err


def test_tables_describe_shows_units_and_descriptions(cli, lake):
    code, out, _ = cli("--lake", lake, "tables", "--describe")
    assert code == 0
    assert "loading_mg_cm2" in out and "active-material (NCM) areal loading [mg/cm2]" in out
    assert "cell_life" in out and "censored_80" in out


def test_template_prints_the_headers(cli):
    assert cli("template", "cells")[1].startswith("cell_id,process,loading_mg_cm2,eca_wt_frac")
    assert cli("template", "cycles")[1].strip() == ("cell_id,cycle_index,discharge_capacity_mah_g,"
                                                   "discharge_capacity_mah,charge_capacity_mah_g,charge_capacity_mah,"
                                                   "coulombic_efficiency_frac,ended_at")


def test_the_environment_variable_names_the_lake(tmp_path):
    env = {**os.environ, "CATHODE_LAKE": str(tmp_path / "envlake")}
    script = Path(sys.executable).with_name("cathode")           # the installed console script
    run = subprocess.run([str(script), "init"], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and (tmp_path / "envlake" / "lake.duckdb").is_file()


def test_formats_lists_each_reader_with_its_library(cli):
    code, out, _ = cli("formats")
    names = {line.split()[0] for line in out.splitlines()}
    assert {"cells_csv", "cycles_csv", "literature_csv"} <= names


def test_help_of_cathode_and_of_every_command(cli):
    from app.cli import COMMANDS
    code, out, _ = cli("--help")
    assert code == 0 and all(name in out for name in COMMANDS)
    for name in COMMANDS:
        code, out, err = cli(name, "--help")
        assert code == 0 and out.startswith(f"usage: cathode {name}"), (name, err)
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("cathode-lake ")


def test_the_help_loads_no_estimator_library():
    """`cathode --help` and the lake's own commands start at once: no scikit-learn, Optuna, SciPy or Streamlit."""
    probe = ("import sys; from app.cli import build_parser; build_parser(sys.argv[1:]); "
             "print(sorted(m for m in ('sklearn', 'optuna', 'scipy', 'streamlit', 'polars') if m in sys.modules))")
    for argv in ([], ["sql", "select 1"], ["info"], ["ingest", "x"], ["template", "cells"]):
        run = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[2])
        assert run.returncode == 0 and run.stdout.strip() == "[]", (argv, run.stdout, run.stderr)


def test_sql_and_info_run_without_dataframe_or_estimator_libraries(lake):
    """What `cathode sql "select 1"` and `cathode info` load, measured in a fresh process: DuckDB and pyarrow only."""
    probe = ("import sys, io, contextlib; from app.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()): code = main(sys.argv[1:])\n"
             "print(code, sorted(m for m in ('sklearn', 'optuna', 'scipy', 'streamlit', 'polars', 'pandas') "
             "if m in sys.modules))")
    for argv in (["sql", "select 1"], ["info"], ["tables"]):
        run = subprocess.run([sys.executable, "-c", probe, "--lake", str(lake), *argv], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[2])
        assert run.stdout.strip() == "0 []", (argv, run.stdout, run.stderr)


def test_error_inputs_print_one_line_and_the_exit_code_rule(cli, lake, tmp_path):
    """1 for an error or a rejected file, 2 for a usage error; one line on stderr, never a traceback."""
    (tmp_path / "empty").mkdir()
    cases = [
        ((("sql", ""),), 1, "The query is empty"),
        ((("sql", "select 1; select 2"),), 1, "Found 2"),
        ((("proposals", "accept"),), 2, "needs a proposal id"),
        ((("proposals", "reject", "NOPE"),), 1, "NOPE"),
        ((("predict",),), 2, "either a cells.csv-shaped FILE or --under-test"),
        ((("ingest", tmp_path / "empty"),), 1, "no files to ingest"),
        ((("ingest", "--labels", "x", tmp_path / "empty"),), 2, "--labels"),
        ((("train",),), 1, "no cells to train on"),
        ((("best",),), 1, ""),
        ((("nope",),), 2, "invalid choice"),
    ]
    for (args,), exit_code, words in cases:
        code, out, err = cli("--lake", lake, *args)
        assert code == exit_code, (args, code, err)
        assert "Traceback" not in err and words in err, (args, err)
        if exit_code == 1 or "invalid choice" not in err:
            assert len(err.strip().splitlines()) == 1, (args, err)


def test_sql_csv_neutralises_spreadsheet_formulas(cli, lake):
    code, out, _ = cli("--lake", lake, "sql", "select '=cmd|calc' as a, '@SUM(A1)' as b, -3.5 as c, 'ok' as d",
                       "--format", "csv")
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [["a", "b", "c", "d"], ["'=cmd|calc", "'@SUM(A1)", "-3.5", "ok"]]


def test_tables_and_formats_stay_aligned_with_long_names(cli, lake):
    code, out, _ = cli("--lake", lake, "tables")
    starts = {line.index(" table ") if " table " in line else line.index(" view ") for line in out.splitlines()}
    assert code == 0 and len(starts) == 1
    from ingest.readers import formats
    code, out, _ = cli("formats")
    lines = out.splitlines()
    columns = {line.index(f" {fmt.library} ", len(fmt.name)) for line, fmt in zip(lines, formats())}
    assert code == 0 and len(lines) == len(formats()) and len(columns) == 1
