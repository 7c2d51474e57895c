"""Scale-out: Spark (pyspark, local mode) reads the lake's Parquet layout as it is on disk and agrees with DuckDB.

Two ways in, both without any cathode code on the Spark side: the catalog's list of registered files
(`bulk_files`: exactly what the views show, even while a killed ingest's orphan lies beside them), and — after
`cathode vacuum` — the `data/<table>/cell_id=…/` folders directly, Hive partitions and all.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from lake import store
from lake.vacuum import vacuum
from tests.reliability.lakecheck import copy_sample, require

pytestmark = [pytest.mark.slow,            # pyspark 4 warns about pandas 3, which this test does not use
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")]
FILES = ("neware_ndax/TESTCELL0001-Test_Data_Collection_Ndc17.ndax", "neware_nda/new_nda_file.nda",
         "bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv", "eis/exampleDataGamry.DTA",
         "eis/exampleDataZPlot.z")


@pytest.fixture(scope="module")
def spark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        require(False, "pyspark is not installed: pip install -e '.[spark]'")
    require(shutil.which("java") is not None, "no Java runtime (Spark needs Java 17)")
    from pyspark.sql import SparkSession
    session = (SparkSession.builder.master("local[1]").appName("cathode-lake-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.memory", "1g").config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
               # a quicker JVM start on a small machine: one GC thread, C1 compiler only
               .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_lake(tmp_path_factory):
    from tests.conftest import SAMPLES
    if not SAMPLES.is_dir():
        pytest.skip(f"sample files not found at {SAMPLES}")
    folder = tmp_path_factory.mktemp("spark")
    root = store.init(folder / "lake")
    inputs = folder / "inputs"
    for i, name in enumerate(FILES):
        copy_sample(SAMPLES / name, inputs / f"SP-{i + 1}")
    cells = inputs / "cells.csv"
    cells.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n" + "".join(
        f"SP-{i + 1},in_situ_polymerized,12.7,0.05,60,4.2,0.1\n" for i in range(len(FILES))))
    from ingest.pipeline import ingest
    assert {o.status for o in ingest(root, [cells], progress=False)} == {"ingested"}
    for i in range(len(FILES)):
        done = ingest(root, [inputs / f"SP-{i + 1}"], cell_id=f"SP-{i + 1}", progress=False)
        assert {o.status for o in done} == {"ingested"}, [o.reason for o in done]
    # an orphan, as an ingest killed after staging leaves it: never registered, so never counted
    script = textwrap.dedent("""
        import os, signal, sys
        import pyarrow as pa
        from lake import store
        rows = pa.table({"cell_id": ["SP-1"] * 7, "voltage_volt": [4.0] * 7})
        with store.writer(sys.argv[1], "ingest") as w:
            w.stage_bulk("timeseries", rows, "d" * 64, "SP-1")
            os.kill(os.getpid(), signal.SIGKILL)""")
    assert subprocess.run([sys.executable, "-c", script, str(root)]).returncode == -9
    return root


def _duckdb_counts(root, table: str, key: str) -> dict:
    sql = (f"SELECT {key} AS k, count(*) AS n FROM timeseries GROUP BY 1" if table == "timeseries" else
           "SELECT s.cell_id AS k, count(*) AS n FROM eis_points JOIN eis_spectra s USING (spectrum_id) GROUP BY 1")
    return {r["k"]: r["n"] for r in store.query(root, sql).to_pylist()}


def test_spark_reads_the_registered_files_and_agrees_with_duckdb(spark, spark_lake):
    root = spark_lake
    files = {r["table_name"]: [] for r in store.query(root, "SELECT DISTINCT table_name FROM bulk_files").to_pylist()}
    for r in store.query(root, "SELECT table_name, path FROM bulk_files").to_pylist():
        files[r["table_name"]].append(str(root / r["path"]))
    ts = spark.read.option("mergeSchema", "true").parquet(*files["timeseries"])
    spark_counts = {r["cell_id"]: r["count"] for r in ts.groupBy("cell_id").count().collect()}
    assert spark_counts == _duckdb_counts(root, "timeseries", "cell_id") and len(spark_counts) == 3
    volts = ts.agg({"voltage_volt": "sum"}).collect()[0][0]
    duck = store.query(root, "SELECT sum(voltage_volt) AS v FROM timeseries")["v"][0].as_py()
    assert volts == pytest.approx(duck, rel=1e-9)
    points = spark.read.option("mergeSchema", "true").parquet(*files["eis_points"])
    spectra = store.query(root, "SELECT spectrum_id, cell_id FROM eis_spectra")
    joined = points.join(spark.createDataFrame(spectra.to_pylist()), "spectrum_id")
    eis = {r["cell_id"]: r["count"] for r in joined.groupBy("cell_id").count().collect()}
    assert eis == _duckdb_counts(root, "eis_points", "cell_id") and len(eis) == 2


def test_spark_reads_the_folders_as_hive_partitions_after_vacuum(spark, spark_lake):
    root = spark_lake
    assert len(vacuum(root).removed) == 1                  # the killed ingest's orphan
    ts = spark.read.option("mergeSchema", "true").parquet(str(root / "data" / "timeseries"))
    counts = {r["cell_id"]: r["count"] for r in ts.groupBy("cell_id").count().collect()}
    assert counts == _duckdb_counts(root, "timeseries", "cell_id")
    versions = {r[0] for r in ts.select("lake_version").distinct().collect()}
    assert versions == set(store.query(root, "SELECT DISTINCT lake_version FROM timeseries")["lake_version"]
                           .to_pylist())
