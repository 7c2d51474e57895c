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

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str          # DuckDB type
    unit: str          # "" when dimensionless or text
    description: str

    @property
    def comment(self) -> str:
        return f"{self.description} [{self.unit}]" if self.unit else self.description


@dataclass(frozen=True)
class Table:
    name: str
    kind: str          # catalog | bulk | view
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    sql: str = ""      # for views: the SELECT that defines it

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cols(*rows: tuple[str, str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*row) for row in rows)


VERSION = ("lake_version", "BIGINT", "", "the lake version (commit) that added this row")
SOURCE = ("source_sha256", "VARCHAR", "", "sha256 of the source file this row came from (see sources)")
CELL = ("cell_id", "VARCHAR", "", "the cell this row belongs to (see cells)")

TABLES: tuple[Table, ...] = (
    Table("commits", "catalog", "One row per lake version: each successful write raises the version by one.", _cols(
        ("lake_version", "BIGINT", "", "the version this commit created (1, 2, 3 …)"),
        ("committed_at", "TIMESTAMPTZ", "UTC", "when the commit landed"),
        ("command", "VARCHAR", "", "what wrote it, e.g. 'ingest', 'demo', 'propose'"),
        ("summary", "VARCHAR", "", "what the commit added, e.g. '3 files, 40 cells, 12000 cycles'"),
    ), key=("lake_version",)),
    Table("sources", "catalog", "One row per file presented to the lake: ingested, or rejected with the reason. "
          "A duplicate (same sha256 as an ingested file) adds no row.", _cols(
        ("sha256", "VARCHAR", "", "sha256 of the file's bytes: the file's identity"),
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
          "(no recipe yet) is completed by a later cells.csv row; the view cells shows the latest record.", _cols(
        ("cell_id", "VARCHAR", "", "unique id of the cell in the lake"),
        ("process", "VARCHAR", "", "cold_calendered, hot_calendered or in_situ_polymerized"),
        ("loading_mg_cm2", "DOUBLE", "mg/cm2", "active-material (NCM) areal loading"),
        ("eca_wt_frac", "DOUBLE", "fraction", "ethyl cyanoacrylate mass fraction of the conductive binder, 0-1"),
        ("temperature_c", "DOUBLE", "degC", "cycling temperature"),
        ("voltage_max_v", "DOUBLE", "V", "upper cut-off voltage"),
        ("voltage_min_v", "DOUBLE", "V", "lower cut-off voltage"),
        ("c_rate", "DOUBLE", "1/h", "cycling rate (0.1 = C/10)"),
        ("densification_frac", "DOUBLE", "fraction", "how far calendering/filling was pushed in its window, 0-1"),
        ("porosity_frac", "DOUBLE", "fraction", "measured electrode porosity, 0-1"),
        ("active_area_frac", "DOUBLE", "fraction", "measured NCM surface fraction touching the conductive binder"),
        ("active_mass_mg", "DOUBLE", "mg", "NCM mass"),
        ("electrode_area_cm2", "DOUBLE", "cm2", "electrode area"),
        ("electrolyte", "VARCHAR", "", "electrolyte, free text"),
        ("proposal_id", "VARCHAR", "", "the proposal this cell answers (see proposals)"),
        ("source", "VARCHAR", "", "lab, a DOI, or text naming where the row came from"),
        ("reference", "VARCHAR", "", "figure or table within the source"),
        ("extra_json", "VARCHAR", "", "unknown extra columns of the cells.csv row, kept as JSON"),
        SOURCE, VERSION,
    ), key=("cell_id", "lake_version")),
    Table("cycles", "catalog", "One row per cell and cycle: the cycle's measured capacities.", _cols(
        CELL,
        ("cycle_index", "BIGINT", "", "cycle number, 1-based (Neware: the vendor's own index)"),
        ("discharge_capacity_mah_g", "DOUBLE", "mAh/g", "specific discharge capacity"),
        ("discharge_capacity_mah", "DOUBLE", "mAh", "discharge capacity"),
        ("charge_capacity_mah_g", "DOUBLE", "mAh/g", "specific charge capacity"),
        ("charge_capacity_mah", "DOUBLE", "mAh", "charge capacity"),
        ("coulombic_efficiency_frac", "DOUBLE", "fraction", "discharge / charge capacity"),
        ("charge_energy_wh", "DOUBLE", "Wh", "charge energy (from a cycler file)"),
        ("discharge_energy_wh", "DOUBLE", "Wh", "discharge energy (from a cycler file)"),
        ("mean_charge_voltage_v", "DOUBLE", "V", "time-averaged voltage while charging (from a cycler file)"),
        ("mean_discharge_voltage_v", "DOUBLE", "V", "time-averaged voltage while discharging (from a cycler file)"),
        ("extra_json", "VARCHAR", "", "unknown extra columns of the cycles.csv row, kept as JSON"),
        SOURCE, VERSION,
    ), key=("cell_id", "cycle_index")),
    Table("timeseries", "bulk", "Cycler time series in Battery Data Format (BDF) machine names and SI units; "
          "vendor columns without a BDF name are kept as raw_*.", _cols(
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
    Table("eis_spectra", "catalog", "One row per impedance spectrum.", _cols(
        ("spectrum_id", "VARCHAR", "", "source sha256 prefix and index within the file"),
        CELL, SOURCE,
        ("spectrum_index", "BIGINT", "", "index of the spectrum within its file"),
        ("voltage_v", "DOUBLE", "V", "cell voltage when the spectrum was taken, if known"),
        ("instrument", "VARCHAR", "", "instrument or software that wrote the file"),
        ("n_points", "BIGINT", "", "frequencies in the spectrum"),
        VERSION,
    ), key=("spectrum_id",)),
    Table("eis_points", "bulk", "Impedance points, long format; z_imag negative for capacitive behaviour.", _cols(
        ("spectrum_id", "VARCHAR", "", "see eis_spectra"),
        ("frequency_hz", "DOUBLE", "Hz", "frequency"),
        ("z_real_ohm", "DOUBLE", "ohm", "real part of the impedance"),
        ("z_imag_ohm", "DOUBLE", "ohm", "imaginary part of the impedance"),
        VERSION,
    )),
    Table("microstructure", "catalog", "Metrics of segmented tomography volumes (3-phase label stacks).", _cols(
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
    Table("spectra_points", "catalog", "Raman, STXM, FTIR … spectra as two-column points, long format.", _cols(
        ("spectrum_id", "VARCHAR", "", "source sha256 prefix and index"),
        CELL, SOURCE,
        ("technique", "VARCHAR", "", "raman, stxm, ftir …"),
        ("x", "DOUBLE", "", "abscissa (see x_unit)"),
        ("x_unit", "VARCHAR", "", "cm-1 for Raman/FTIR, eV for STXM"),
        ("intensity", "DOUBLE", "a.u.", "measured intensity"),
        VERSION,
    )),
    Table("literature", "catalog", "Published values, one row per reported quantity, with DOI and figure.", _cols(
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
    Table("models", "catalog", "Trained surrogate models and their validation.", _cols(
        ("model_id", "VARCHAR", "", "model identifier"),
        ("target", "VARCHAR", "", "predicted quantity, e.g. cycles_to_80"),
        ("estimator", "VARCHAR", "", "estimator kind (gp, gbt, early_life)"),
        ("features_json", "VARCHAR", "", "feature names, JSON list"),
        ("metrics_json", "VARCHAR", "", "cross-validation metrics and interval coverage, JSON"),
        ("library_versions_json", "VARCHAR", "", "library versions used, JSON"),
        ("trained_on_version", "BIGINT", "", "the lake version the model saw"),
        ("n_cells", "BIGINT", "", "training cells"),
        ("artifact_path", "VARCHAR", "", "model file, relative to the lake folder"),
        ("created_at", "TIMESTAMPTZ", "UTC", "when the model was trained"),
        VERSION,
    ), key=("model_id",)),
    Table("proposal_records", "catalog", "Cathode recipes proposed by the optimizer, as proposed (append-only); "
          "the view proposals adds each one's current status.", _cols(
        ("proposal_id", "VARCHAR", "", "proposal identifier (goes into cells.csv)"),
        ("study_name", "VARCHAR", "", "Optuna study"),
        ("trial_number", "BIGINT", "", "the Optuna trial of the study that holds this proposal"),
        ("kind", "VARCHAR", "", "explore (a new recipe) or replicate (a top measured recipe made again)"),
        ("process", "VARCHAR", "", "proposed process"),
        ("loading_mg_cm2", "DOUBLE", "mg/cm2", "proposed NCM loading"),
        ("densification_frac", "DOUBLE", "fraction", "proposed densification"),
        ("eca_wt_frac", "DOUBLE", "fraction", "proposed ECA fraction"),
        ("temperature_c", "DOUBLE", "degC", "proposed cycling temperature"),
        ("voltage_max_v", "DOUBLE", "V", "proposed upper cut-off"),
        ("c_rate", "DOUBLE", "1/h", "proposed rate"),
        ("objective", "VARCHAR", "", "objective name (the first one for a Pareto campaign)"),
        ("predicted_mean", "DOUBLE", "", "model mean of the objective"),
        ("predicted_lo", "DOUBLE", "", "lower bound of the 90 % interval"),
        ("predicted_hi", "DOUBLE", "", "upper bound of the 90 % interval"),
        ("predictions_json", "VARCHAR", "", "mean and 90 % interval of every objective, JSON"),
        ("acquisition", "DOUBLE", "", "acquisition value at the proposal"),
        ("model_id", "VARCHAR", "", "model(s) behind the prediction, comma-separated"),
        ("created_at", "TIMESTAMPTZ", "UTC", "when it was proposed"),
        VERSION,
    ), key=("proposal_id",)),
    Table("proposal_events", "catalog", "Status changes of proposals (accepted, rejected), append-only.", _cols(
        ("proposal_id", "VARCHAR", "", "see proposals"),
        ("status", "VARCHAR", "", "accepted or rejected"),
        ("note", "VARCHAR", "", "why, free text"),
        ("created_at", "TIMESTAMPTZ", "UTC", "when the status changed"),
        VERSION,
    ), key=("proposal_id", "lake_version")),
    Table("bulk_files", "catalog", "Parquet files holding bulk rows; a bulk view reads exactly these.", _cols(
        ("table_name", "VARCHAR", "", "bulk table the file belongs to"),
        ("path", "VARCHAR", "", "path relative to the lake folder (content-addressed name)"),
        ("sha256", "VARCHAR", "", "sha256 of the Parquet file"),
        ("rows", "BIGINT", "", "rows in the file"),
        SOURCE, VERSION,
    ), key=("path",)),
    Table("lake_meta", "catalog", "Facts about the lake itself (schema version, folder it was last opened in).",
          _cols(("key", "VARCHAR", "", "name"), ("value", "VARCHAR", "", "value")), key=("key",)),
)

# Retention is relative to the best of the first three cycles (robust to a low formation cycle); the capacity used
# is the specific one when known, else the absolute one (a ratio, so the unit cancels).
_RETENTION_SQL = """
SELECT cell_id, cycle_index,
       cap / nullif(max(cap) FILTER (WHERE cycle_index <= 3) OVER (PARTITION BY cell_id), 0) AS retention_frac
FROM (SELECT cell_id, cycle_index, coalesce(discharge_capacity_mah_g, discharge_capacity_mah) AS cap FROM cycles)
"""

_LIFE_SQL = """
SELECT r.cell_id,
       max(r.cycle_index) AS cycles_tested,
       max(y.discharge_capacity_mah_g) FILTER (WHERE r.cycle_index <= 3) AS initial_capacity_mah_g,
       max(y.discharge_capacity_mah_g) FILTER (WHERE r.cycle_index <= 3) * any_value(c.loading_mg_cm2) / 1000.0
           AS initial_areal_capacity_mah_cm2,
       coalesce(min(r.cycle_index) FILTER (WHERE r.retention_frac < 0.8), max(r.cycle_index)) AS cycles_to_80,
       min(r.cycle_index) FILTER (WHERE r.retention_frac < 0.8) IS NULL AS censored_80,
       coalesce(min(r.cycle_index) FILTER (WHERE r.retention_frac < 0.7), max(r.cycle_index)) AS cycles_to_70,
       min(r.cycle_index) FILTER (WHERE r.retention_frac < 0.7) IS NULL AS censored_70,
       arg_max(r.retention_frac, r.cycle_index) AS last_retention_frac
FROM retention r
JOIN cycles y USING (cell_id, cycle_index)
LEFT JOIN cells c USING (cell_id)
GROUP BY r.cell_id
"""

_CELLS_SQL = """
SELECT * FROM cell_records QUALIFY row_number() OVER (PARTITION BY cell_id ORDER BY lake_version DESC) = 1
"""

VIEWS: tuple[Table, ...] = (
    Table("cells", "view", "One row per cell: its recipe and measured microstructure (lab template cells.csv, "
          "instrument metadata, literature or the virtual lab); the latest of its cell_records.",
          next(t for t in TABLES if t.name == "cell_records").columns, sql=_CELLS_SQL),
    Table("retention", "view", "Discharge capacity retention per cell and cycle, relative to the best of the "
          "cell's first three cycles.", _cols(
        CELL, ("cycle_index", "BIGINT", "", "cycle number"),
        ("retention_frac", "DOUBLE", "fraction", "discharge capacity / best of cycles 1-3"),
    ), sql=_RETENTION_SQL),
    Table("cell_life", "view", "Per-cell life summary: cycles to 80 % and 70 % retention, with a censoring flag "
          "when the test ended before the threshold.", _cols(
        CELL,
        ("cycles_tested", "BIGINT", "", "last cycle in the lake for the cell"),
        ("initial_capacity_mah_g", "DOUBLE", "mAh/g", "best specific discharge capacity of cycles 1-3"),
        ("initial_areal_capacity_mah_cm2", "DOUBLE", "mAh/cm2", "initial capacity x loading"),
        ("cycles_to_80", "BIGINT", "", "first cycle below 80 % retention; the last cycle tested when censored"),
        ("censored_80", "BOOLEAN", "", "true when the test ended before retention fell below 80 % (a lower bound)"),
        ("cycles_to_70", "BIGINT", "", "first cycle below 70 % retention; the last cycle tested when censored"),
        ("censored_70", "BOOLEAN", "", "true when the test ended before retention fell below 70 % (a lower bound)"),
        ("last_retention_frac", "DOUBLE", "fraction", "retention at the last cycle tested"),
    ), sql=_LIFE_SQL),
)

# Derived tables (`cathode derive`, ingest/derive) are declared in lake/schema_derived.py: same Table/Column types,
# appended here so this module stays the one registry (and under the house line limit).
from lake.schema_derived import DERIVE_RUNS, DERIVED  # noqa: E402  (needs Table, _cols, SOURCE, VERSION above)

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
                       next(t for t in TABLES if t.name == "proposal_records").columns + _cols(
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
