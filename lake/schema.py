"""The canonical schema of the lake: every table and view, column, type, unit and a one-line description.

This module is the single source of truth. `store.py` creates the catalog from it and publishes every description
with DuckDB `COMMENT ON`, so `cathode tables --describe` and any DuckDB client show the same documentation.

Kinds:
- "catalog": a table inside `lake.duckdb` (small, transactional rows).
- "bulk":    immutable Parquet files under `data/<table>/`, exposed by a view of the same name that lists only
             files whose source committed (a file left by a crashed ingest is never visible).
- "view":    derived in SQL from the tables above; always consistent with them.
Every row of a catalog or bulk table carries `lake_version`, the commit that added it.
"""
from __future__ import annotations

from lake import cycle_life, recipe, timeline
from lake.schema_derived import DERIVE_RUNS, DERIVED
from lake.schema_types import CELL, SOURCE, VERSION, Column, Table, cols  # noqa: F401  (Column: the public type)


def _recipe_column(c: recipe.Column, prefix: str = "") -> tuple[str, str, str, str]:
    """A recipe column (lake.recipe, the one home of its name, unit and meaning) as a table column."""
    return c.name, "DOUBLE" if c.number else "VARCHAR", c.unit, prefix + c.meaning

TABLES: tuple[Table, ...] = (
    Table("commits", "catalog", "One row per lake version: each successful write raises the version by one.", cols(
        ("lake_version", "BIGINT", "", "the version this commit created (1, 2, 3 …)"),
        ("committed_at", "TIMESTAMPTZ", "UTC", "when the commit landed"),
        ("command", "VARCHAR", "", "what wrote it, e.g. 'ingest', 'demo', 'propose'"),
        ("summary", "VARCHAR", "", "what the commit added, e.g. '3 files, 40 cells, 12000 cycles'"),
    ), key=("lake_version",)),
    Table("sources", "catalog", "One row per file presented to the lake: ingested, or rejected with the reason. "
          "A duplicate (same sha256 as an ingested file) adds no row.", cols(
        ("sha256", "VARCHAR", "", "the file's identity: sha256 of its bytes, and of its sidecar's (x.tiff.json) "
         "when it has one; for a path refused as not a regular file, of that path"),
        ("original_name", "VARCHAR", "", "file name as given to `cathode ingest`"),
        ("original_path", "VARCHAR", "", "absolute path at ingest time"),
        ("size_bytes", "BIGINT", "B", "file size"),
        ("format", "VARCHAR", "", "detected format, see `cathode formats`"),
        ("reader", "VARCHAR", "", "reader module that parsed the file"),
        ("reader_version", "VARCHAR", "", "cathode-lake version and the parsing library's version"),
        ("status", "VARCHAR", "", "ingested or rejected (the same content rejected again adds no row)"),
        ("reason", "VARCHAR", "", "why the file was rejected (file, row, column, expected, found)"),
        ("rows", "BIGINT", "", "rows the file added to the lake"),
        ("meta_json", "VARCHAR", "", "instrument metadata as JSON (barcode, channel, active mass, start time …)"),
        ("warnings", "VARCHAR", "", "what the reader warned about, one warning per line (time zone unknown, cycle "
         "numbering rule, text export used …); null when none"),
        ("ingested_at", "TIMESTAMPTZ", "UTC", "when the file was presented"),
        ("lake_version", "BIGINT", "", "the version that added the file (for a rejection: the version the lake "
         "was at, which a rejection does not raise)"),
    )),
    Table("cell_records", "catalog", "Every record of a cell, append-only: a cell first seen in an instrument file "
          "(no recipe yet) is completed by a later cells.csv row; the view cells shows the latest record.", cols(
        *(_recipe_column(c) for c in recipe.COLUMNS),
        ("extra_json", "VARCHAR", "", "unknown extra columns of the cells.csv row, kept as JSON"),
        SOURCE, VERSION,
    ), key=("cell_id", "lake_version")),
    Table("cycles", "catalog", "One row per cell and cycle: the cycle's measured capacities.", cols(
        CELL,
        ("cycle_index", "BIGINT", "", "cycle number as the cycler counts it (Neware: its own index; EC-Lab: 0-based); "
         "retention.cycle_number counts cycles run"),
        ("discharge_capacity_mah_g", "DOUBLE", "mAh/g", "specific discharge capacity"),
        ("discharge_capacity_mah", "DOUBLE", "mAh", "discharge capacity"),
        ("charge_capacity_mah_g", "DOUBLE", "mAh/g", "specific charge capacity"),
        ("charge_capacity_mah", "DOUBLE", "mAh", "charge capacity"),
        ("coulombic_efficiency_frac", "DOUBLE", "fraction", "discharge / charge capacity"),
        ("charge_energy_wh", "DOUBLE", "Wh", "charge energy (from a cycler file)"),
        ("discharge_energy_wh", "DOUBLE", "Wh", "discharge energy (from a cycler file)"),
        ("mean_charge_voltage_v", "DOUBLE", "V", "time-averaged voltage while charging (from a cycler file)"),
        ("mean_discharge_voltage_v", "DOUBLE", "V", "time-averaged voltage while discharging (from a cycler file)"),
        ("end_of_test", "VARCHAR", "", "how the test ended, on the row of the cycle in which it ended: "
         + "; ".join(f"{k} ({v})" for k, v in cycle_life.END_OF_TEST.items()) + "; null on other rows"),
        ("ended_at", "TIMESTAMPTZ", "UTC", "when the cycle ended: its last sample's time in a cycler file that logs "
         "absolute times (null when the file has only test time), or the cycles.csv column ended_at (ISO 8601; "
         "without an offset read as UTC)"),
        ("extra_json", "VARCHAR", "", "unknown extra columns of the cycles.csv row, kept as JSON"),
        SOURCE, VERSION,
    ), key=("cell_id", "cycle_index")),
    Table("timeseries", "bulk", "Cycler time series in Battery Data Format (BDF) machine names and SI units; "
          "vendor columns without a BDF name are kept as raw_*.", cols(
        CELL, SOURCE,
        ("test_time_second", "DOUBLE", "s", "time since the start of the test"),
        ("unix_time_second", "DOUBLE", "s", "UTC epoch time of the sample"),
        ("voltage_volt", "DOUBLE", "V", "cell voltage"),
        ("current_ampere", "DOUBLE", "A", "current, positive on charge"),
        ("cycle_count", "BIGINT", "", "cycle number (vendor numbering)"),
        ("step_count", "BIGINT", "", "running count of steps"),
        ("step_index", "BIGINT", "", "index of the step in the program"),
        ("step_type", "VARCHAR", "", "step kind, e.g. cc_chg, cc_dchg, rest"),
        ("step_time_second", "DOUBLE", "s", "time since the start of the step"),
        ("charging_capacity_ah", "DOUBLE", "Ah", "charge capacity accumulated in the step"),
        ("discharging_capacity_ah", "DOUBLE", "Ah", "discharge capacity accumulated in the step"),
        ("net_capacity_ah", "DOUBLE", "Ah", "charge minus discharge capacity"),
        ("charging_energy_wh", "DOUBLE", "Wh", "charge energy accumulated in the step"),
        ("discharging_energy_wh", "DOUBLE", "Wh", "discharge energy accumulated in the step"),
        ("temperature_t1_celsius", "DOUBLE", "degC", "first auxiliary temperature"),
        VERSION,
    )),
    Table("eis_spectra", "catalog", "One row per impedance spectrum.", cols(
        ("spectrum_id", "VARCHAR", "", "source sha256 prefix and index within the file"),
        CELL, SOURCE,
        ("spectrum_index", "BIGINT", "", "index of the spectrum within its file"),
        ("voltage_v", "DOUBLE", "V", "cell voltage when the spectrum was taken, if known"),
        ("instrument", "VARCHAR", "", "instrument or software that wrote the file"),
        ("n_points", "BIGINT", "", "frequencies in the spectrum"),
        VERSION,
    ), key=("spectrum_id",)),
    Table("eis_points", "bulk", "Impedance points, long format; z_imag negative for capacitive behaviour.", cols(
        ("spectrum_id", "VARCHAR", "", "see eis_spectra"),
        ("frequency_hz", "DOUBLE", "Hz", "frequency"),
        ("z_real_ohm", "DOUBLE", "ohm", "real part of the impedance"),
        ("z_imag_ohm", "DOUBLE", "ohm", "imaginary part of the impedance"),
        VERSION,
    )),
    Table("microstructure", "catalog", "Metrics of segmented tomography volumes (3-phase label stacks).", cols(
        CELL, SOURCE,
        ("shape_z", "BIGINT", "voxel", "slices"), ("shape_y", "BIGINT", "voxel", "rows"),
        ("shape_x", "BIGINT", "voxel", "columns"),
        ("voxel_size_m", "DOUBLE", "m", "edge length of one voxel"),
        ("pore_frac", "DOUBLE", "fraction", "pore volume fraction (porosity)"),
        ("ncm_frac", "DOUBLE", "fraction", "NCM volume fraction"),
        ("binder_frac", "DOUBLE", "fraction", "conductive-binder volume fraction"),
        ("pore_volume_m3", "DOUBLE", "m3", "pore volume in the imaged box"),
        ("ssa_pore_per_m", "DOUBLE", "1/m", "pore specific surface area (face counting)"),
        ("ssa_ncm_per_m", "DOUBLE", "1/m", "NCM specific surface area (face counting)"),
        ("ssa_binder_per_m", "DOUBLE", "1/m", "binder specific surface area (face counting)"),
        ("ncm_binder_faces", "BIGINT", "", "voxel faces between NCM and binder"),
        ("ncm_pore_faces", "BIGINT", "", "voxel faces between NCM and pore"),
        ("active_area_frac", "DOUBLE", "fraction", "NCM faces touching binder / NCM faces touching binder or pore"),
        ("extra_json", "VARCHAR", "", "further metrics the reader reported, as JSON"),
        VERSION,
    )),
    Table("spectra_points", "catalog", "Raman, STXM, FTIR … spectra as two-column points, long format.", cols(
        ("spectrum_id", "VARCHAR", "", "source sha256 prefix and index"),
        CELL, SOURCE,
        ("technique", "VARCHAR", "", "raman, stxm, ftir …"),
        ("x", "DOUBLE", "", "abscissa (see x_unit)"),
        ("x_unit", "VARCHAR", "", "cm-1 for Raman/FTIR, eV for STXM"),
        ("intensity", "DOUBLE", "a.u.", "measured intensity"),
        VERSION,
    )),
    Table("literature", "catalog", "Published values, one row per reported quantity, with DOI and figure.", cols(
        CELL,
        ("doi", "VARCHAR", "", "DOI of the publication"),
        ("figure", "VARCHAR", "", "figure or table the value is read from"),
        ("quantity", "VARCHAR", "", "what is reported, e.g. retention_frac, cycles"),
        ("value", "DOUBLE", "", "the value, normalised (fractions 0-1)"),
        ("unit", "VARCHAR", "", "unit of the value"),
        ("at_cycle", "BIGINT", "", "cycle the value refers to, when it does"),
        ("note", "VARCHAR", "", "free text from the publication"),
        ("extra_json", "VARCHAR", "", "unknown extra columns of the literature row, kept as JSON"),
        SOURCE, VERSION,
    )),
    Table("models", "catalog", "Trained surrogate models and their validation.", cols(
        ("model_id", "VARCHAR", "", "model identifier"),
        ("target", "VARCHAR", "", "predicted quantity, e.g. cycles_to_80"),
        ("estimator", "VARCHAR", "", "estimator kind (gp, gbt, early_life)"),
        ("features_json", "VARCHAR", "", "feature names, JSON list"),
        ("metrics_json", "VARCHAR", "", "cross-validation metrics and interval coverage, JSON"),
        ("library_versions_json", "VARCHAR", "", "library versions used, JSON"),
        ("trained_on_version", "BIGINT", "", "the lake version the model saw"),
        ("n_cells", "BIGINT", "", "training cells"),
        ("artifact_path", "VARCHAR", "", "model file (skops format), relative to the lake folder, under "
         "artifacts/models/"),
        ("artifact_sha256", "VARCHAR", "", "sha256 of the model file, checked before it is loaded"),
        ("created_at", "TIMESTAMPTZ", "UTC", "when the model was trained"),
        VERSION,
    ), key=("model_id",)),
    Table("proposal_records", "catalog", "Cathode recipes proposed by the optimizer, as proposed (append-only); "
          "the view proposals adds each one's current status.", cols(
        ("proposal_id", "VARCHAR", "", "proposal identifier (goes into cells.csv)"),
        ("study_name", "VARCHAR", "", "Optuna study"),
        ("trial_number", "BIGINT", "", "the Optuna trial of the study that holds this proposal"),
        ("kind", "VARCHAR", "", "explore (a new recipe) or replicate (a top measured recipe made again)"),
        *(_recipe_column(recipe.BY_NAME[n], "proposed ") for n in recipe.RECIPE),
        ("objective", "VARCHAR", "", "objective name (the first one for a Pareto campaign)"),
        ("predicted_mean", "DOUBLE", "", "model mean of the objective"),
        ("predicted_lo", "DOUBLE", "", "lower bound of the 90 % interval"),
        ("predicted_hi", "DOUBLE", "", "upper bound of the 90 % interval"),
        ("predictions_json", "VARCHAR", "", "mean and 90 % interval of every objective, JSON"),
        ("acquisition", "DOUBLE", "", "acquisition value at the proposal"),
        ("model_id", "VARCHAR", "", "model(s) behind the prediction, comma-separated"),
        ("finished_cells", "BIGINT", "", "cells whose test had ended that the batch learnt from"),
        ("running_cells", "BIGINT", "", "cells still cycling that the batch learnt from (through their first "
         "cycles)"),
        ("early_life_trusted", "BOOLEAN", "", "whether every early-life model that read the running cells was "
         "trustworthy (enough cells, cross-validated coverage); null when none was used"),
        ("reliance_json", "VARCHAR", "", "what the batch relied on: finished and running cells, each early-life "
         "model (cycles read, cells, coverage, RMSE, running cells predicted), JSON"),
        ("created_at", "TIMESTAMPTZ", "UTC", "when it was proposed"),
        VERSION,
    ), key=("proposal_id",)),
    Table("proposal_events", "catalog", "Status changes of proposals (accepted, rejected), append-only.", cols(
        ("proposal_id", "VARCHAR", "", "see proposals"),
        ("status", "VARCHAR", "", "accepted or rejected"),
        ("note", "VARCHAR", "", "why, free text"),
        ("created_at", "TIMESTAMPTZ", "UTC", "when the status changed"),
        VERSION,
    ), key=("proposal_id", "lake_version")),
    Table("bulk_files", "catalog", "Parquet files holding bulk rows; a bulk view reads exactly these.", cols(
        ("table_name", "VARCHAR", "", "bulk table the file belongs to"),
        ("path", "VARCHAR", "", "path relative to the lake folder (content-addressed name)"),
        ("sha256", "VARCHAR", "", "sha256 of the Parquet file"),
        ("rows", "BIGINT", "", "rows in the file"),
        SOURCE, VERSION,
    ), key=("path",)),
    Table("lake_meta", "catalog", "Facts about the lake itself (schema version, folder it was last opened in).",
          cols(("key", "VARCHAR", "", "name"), ("value", "VARCHAR", "", "value")), key=("key",)),
)

_CELLS_SQL = """
SELECT * FROM cell_records QUALIFY row_number() OVER (PARTITION BY cell_id ORDER BY lake_version DESC) = 1
"""

VIEWS: tuple[Table, ...] = (
    Table("cells", "view", "One row per cell: its recipe and measured microstructure (lab template cells.csv, "
          "instrument metadata, literature or the virtual lab); the latest of its cell_records.",
          next(t for t in TABLES if t.name == "cell_records").columns, sql=_CELLS_SQL),
    Table("retention", "view", "Discharge capacity retention per cell and cycle, relative to the best of the "
          "cell's first three cycles (the rule: lake/cycle_life.py).", cols(
        CELL, ("cycle_index", "BIGINT", "", "cycle number (vendor numbering)"),
        ("cycle_number", "BIGINT", "", "cycles run up to this one, 1-based whatever the vendor numbering"),
        ("retention_frac", "DOUBLE", "fraction", "discharge capacity / best of the first three cycles"),
    ), sql=cycle_life.RETENTION_SQL),
    Table("cell_life", "view", "Per-cell life summary: cycles to 80 %, 70 % and 50 % retention, with a censoring "
          "flag when the test ended before the threshold (the rule: lake/cycle_life.py).", cols(
        CELL,
        ("cycles_tested", "BIGINT", "", "cycles run (the last cycle_number of the cell)"),
        ("initial_capacity_mah_g", "DOUBLE", "mAh/g", "best specific discharge capacity of the first three cycles"),
        ("initial_areal_capacity_mah_cm2", "DOUBLE", "mAh/cm2", "initial capacity x loading"),
        *((f"{name}_{pct}", typ, "", text.format(pct=pct)) for pct in cycle_life.THRESHOLDS for name, typ, text in (
            ("cycles_to", "BIGINT", "cycles run to the first cycle below {pct} % retention; cycles_tested when "
             "censored"),
            ("censored", "BOOLEAN", "true when the test ended before retention fell below {pct} % (a lower bound)"))),
        ("short_cycle", "BIGINT", "", "cycle number in which the cell short-circuited (end_of_test = short), "
         "null when it did not; a short before a threshold is that threshold's failure cycle"),
        ("last_retention_frac", "DOUBLE", "fraction", "retention at the last cycle tested"),
        ("test_ended", "BOOLEAN", "", "true when a cycles row says how the test ended (end_of_test); false while "
         "the cell is still cycling (or its lab does not report the end)"),
    ), sql=cycle_life.LIFE_SQL),
    Table("cell_spans", "view", "Per cell with cycle end times: its test in lab time, for a campaign's time line "
          "(the rule: lake/timeline.py, which also assigns cells to display lanes).", cols(
        CELL,
        ("started_at", "TIMESTAMPTZ", "UTC", "estimated start: the first cycle's end minus cycle_hours"),
        ("first_cycle_ended_at", "TIMESTAMPTZ", "UTC", "end of the cell's first cycle with a time"),
        ("last_cycle_ended_at", "TIMESTAMPTZ", "UTC", "end of its last cycle with a time"),
        ("cycle_hours", "DOUBLE", "h", "median time between consecutive cycle ends (null for a single cycle)"),
        ("cycles_run", "BIGINT", "", "cycles rows of the cell"),
        ("test_ended", "BOOLEAN", "", "as cell_life.test_ended"),
        ("end_of_test", "VARCHAR", "", "how the test ended (see cycles), null while none is recorded"),
    ), sql=timeline.SPANS_SQL),
)

# Derived tables (`cathode derive`, analytics) are declared in lake/schema_derived.py, appended here so this module
# stays the one registry (and under the house line limit).
TABLES = TABLES + (DERIVE_RUNS,) + tuple(history for history, _ in DERIVED)
VIEWS = VIEWS + tuple(view for _, view in DERIVED)


# Proposals: done once a cell answering it (cells.proposal_id) is in the lake, else the latest event, else proposed.
_PROPOSALS_SQL = """
SELECT p.*, CASE WHEN c.result_cell_id IS NOT NULL THEN 'done' ELSE coalesce(e.status, 'proposed') END AS status,
       c.result_cell_id
FROM proposal_records p
LEFT JOIN (SELECT proposal_id, string_agg(cell_id, ',' ORDER BY cell_id) AS result_cell_id FROM cells
           WHERE proposal_id IS NOT NULL GROUP BY proposal_id) c USING (proposal_id)
LEFT JOIN (SELECT proposal_id, arg_max(status, lake_version) AS status FROM proposal_events
           GROUP BY proposal_id) e USING (proposal_id)
"""
VIEWS = VIEWS + (Table("proposals", "view", "Every proposal with its current status: proposed -> accepted -> done "
                       "(a cell with its proposal_id was ingested) or rejected.",
                       next(t for t in TABLES if t.name == "proposal_records").columns + cols(
                           ("status", "VARCHAR", "", "proposed, accepted, done or rejected"),
                           ("result_cell_id", "VARCHAR", "", "the cell(s) that answered the proposal")),
                       sql=_PROPOSALS_SQL),)

ALL: tuple[Table, ...] = TABLES + VIEWS


def table(name: str) -> Table:
    """The declared table or view called ``name``."""
    for t in ALL:
        if t.name == name:
            return t
    raise KeyError(f"no table '{name}' in the schema; tables: {', '.join(t.name for t in ALL)}")
