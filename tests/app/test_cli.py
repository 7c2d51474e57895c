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
    assert code == 1
    reason = out.splitlines()[1].strip()
    assert reason.startswith(str(bad)) and "row 2, column 'loading_mg_cm2'" in reason and "-3" in reason
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
                                                   "coulombic_efficiency_frac")


def test_the_environment_variable_names_the_lake(tmp_path):
    env = {**os.environ, "CATHODE_LAKE": str(tmp_path / "envlake")}
    script = Path(sys.executable).with_name("cathode")           # the installed console script
    run = subprocess.run([str(script), "init"], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and (tmp_path / "envlake" / "lake.duckdb").is_file()


def test_formats_lists_each_reader_with_its_library(cli):
    code, out, _ = cli("formats")
    names = {line.split()[0] for line in out.splitlines()}
    assert {"cells_csv", "cycles_csv", "literature_csv"} <= names
