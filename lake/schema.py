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


PROCESSES = ("cold_calendered", "hot_calendered", "in_situ_polymerized")
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
        ("status", "VARCHAR", "", "ingested or rejected"),
        ("reason", "VARCHAR", "", "why the file was rejected (file, row, column, expected, found)"),
        ("rows", "BIGINT", "", "rows the file added to the lake"),
        ("meta_json", "VARCHAR", "", "instrument metadata as JSON (barcode, channel, active mass, start time …)"),
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
    Table("proposals", "catalog", "Cathode recipes proposed by the optimizer and what became of them.", _cols(
        ("proposal_id", "VARCHAR", "", "proposal identifier (goes into cells.csv)"),
        ("study_name", "VARCHAR", "", "Optuna study"),
        ("process", "VARCHAR", "", "proposed process"),
        ("loading_mg_cm2", "DOUBLE", "mg/cm2", "proposed NCM loading"),
        ("densification_frac", "DOUBLE", "fraction", "proposed densification"),
        ("eca_wt_frac", "DOUBLE", "fraction", "proposed ECA fraction"),
        ("temperature_c", "DOUBLE", "degC", "proposed cycling temperature"),
        ("voltage_max_v", "DOUBLE", "V", "proposed upper cut-off"),
        ("c_rate", "DOUBLE", "1/h", "proposed rate"),
        ("objective", "VARCHAR", "", "objective name"),
        ("predicted_mean", "DOUBLE", "", "model mean of the objective"),
        ("predicted_lo", "DOUBLE", "", "lower bound of the 90 % interval"),
        ("predicted_hi", "DOUBLE", "", "upper bound of the 90 % interval"),
        ("acquisition", "DOUBLE", "", "acquisition value at the proposal"),
        ("model_id", "VARCHAR", "", "model behind the prediction"),
        ("status", "VARCHAR", "", "proposed, accepted, done or rejected"),
        ("result_cell_id", "VARCHAR", "", "the cell that answered the proposal"),
        ("created_at", "TIMESTAMPTZ", "UTC", "when it was proposed"),
        VERSION,
    ), key=("proposal_id",)),
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

# ---------------------------------------------------------------- derived tables (ingest/derive, `cathode derive`)
# Append-only like the rest of the lake. A derivation works per *unit* (a cell, a time-series file, a spectrum, a
# volume): recomputing a unit appends its complete result to `<name>_history` and one row to `derive_runs`; the view
# `<name>` shows, per unit, only the rows of that unit's latest run. A run whose method_version and inputs equal the
# unit's latest run is skipped, so re-running adds nothing; a new method_version (or new input rows) appends and the
# view moves to it, while `<name>_history` keeps every earlier answer, tagged with its method_version and lake_version.
METHOD = ("method_version", "VARCHAR", "", "version of the derivation method that computed this row")


def _derived(name: str, quantity: str, unit: str, description: str, *rows) -> tuple[Table, Table]:
    """A history table of every run's rows and the view `name` of each unit's latest run."""
    history = Table(f"{name}_history", "catalog", f"{description} Every run, append-only; the view {name} shows "
                    f"the latest run per {unit}.", _cols(*rows, METHOD, VERSION))
    sql = (f"SELECT h.* FROM {name}_history h JOIN (SELECT unit_id, max(lake_version) AS v FROM derive_runs WHERE "
           f"quantity = '{quantity}' GROUP BY unit_id) r ON h.{unit} = r.unit_id AND h.lake_version = r.v")
    return history, Table(name, "view", f"{description} Latest run per {unit} (see {name}_history).",
                          history.columns, sql=sql)


DERIVE_RUNS = Table("derive_runs", "catalog", "One row per derivation of one unit: which method and inputs produced "
                    "the rows a derived view shows.", _cols(
    ("quantity", "VARCHAR", "", "cycling, dqdv, gitt, eis, microstructure or spectroscopy"),
    ("unit_id", "VARCHAR", "", "what was derived: a cell_id, a source sha256 or a spectrum_id"),
    ("method_version", "VARCHAR", "", "version of the derivation method"),
    ("input_fingerprint", "VARCHAR", "", "identity of the inputs and options; same method + fingerprint = skipped"),
    ("n_rows", "BIGINT", "", "rows the run added over all its derived tables"),
    ("note", "VARCHAR", "", "what the method noticed, e.g. NaN rows skipped"),
    VERSION,
), key=("quantity", "unit_id", "lake_version"))

_PER_CELL = ("cell_id", "VARCHAR", "", "the cell (see cells)")
DERIVED: tuple[tuple[Table, Table], ...] = (
    _derived("cycling_summary", "cycling", "cell_id", "Per-cell cycling metrics and early-life features from "
             "cycles (NaN rows skipped and counted).",
             _PER_CELL,
             ("first_discharge_capacity_mah_g", "DOUBLE", "mAh/g", "discharge capacity of the first valid cycle"),
             ("first_discharge_capacity_mah_cm2", "DOUBLE", "mAh/cm2", "first discharge capacity per electrode area"),
             ("initial_capacity_mah_g", "DOUBLE", "mAh/g", "best discharge capacity of cycles 1-3 (retention basis)"),
             ("cycles_tested", "BIGINT", "", "last valid cycle"),
             ("cycles_to_80", "BIGINT", "", "first cycle below 80 % retention; cycles_tested when censored"),
             ("censored_80", "BOOLEAN", "", "test ended before 80 % retention (cycles_to_80 is a lower bound)"),
             ("cycles_to_70", "BIGINT", "", "first cycle below 70 % retention; cycles_tested when censored"),
             ("censored_70", "BOOLEAN", "", "test ended before 70 % retention (cycles_to_70 is a lower bound)"),
             ("last_retention_frac", "DOUBLE", "fraction", "retention at the last valid cycle"),
             ("mean_coulombic_efficiency_frac", "DOUBLE", "fraction", "mean CE of cycles 2..last (cycle 1 apart)"),
             ("first_coulombic_efficiency_frac", "DOUBLE", "fraction", "CE of the first cycle"),
             ("capacity_fade_frac_per_cycle", "DOUBLE", "1/cycle", "minus the least-squares slope of retention "
              "over the cycles with capacity"),
             ("early_cycles", "BIGINT", "", "N: cycles 1..N used for the early-life features"),
             ("early_capacity_slope_mah_g_per_cycle", "DOUBLE", "mAh/g/cycle", "slope of discharge capacity over "
              "cycles 2..N"),
             ("early_mean_coulombic_efficiency_frac", "DOUBLE", "fraction", "mean CE over cycles 2..N"),
             ("early_delta_q_var_log10", "DOUBLE", "log10(Ah2)", "Severson 2019: log10 variance of "
              "Q_100(V) - Q_10(V) on discharge, when the time series has both cycles"),
             ("nan_cycles_skipped", "BIGINT", "", "cycles rows without a finite discharge capacity, skipped")),
    _derived("cycle_polarisation", "cycling", "cell_id", "Per-cycle mean charge and discharge voltage and their "
             "difference (voltage polarisation).",
             _PER_CELL, ("cycle_index", "BIGINT", "", "cycle number (cycler numbering)"),
             ("mean_charge_voltage_v", "DOUBLE", "V", "time-averaged voltage while the current is positive"),
             ("mean_discharge_voltage_v", "DOUBLE", "V", "time-averaged voltage while the current is negative"),
             ("polarisation_v", "DOUBLE", "V", "mean charge minus mean discharge voltage"),
             ("basis", "VARCHAR", "", "cycles (summary columns) or timeseries")),
    _derived("dqdv", "dqdv", "cell_id", "Incremental capacity dQ/dV per cycle and direction on a fixed 10 mV "
             "grid (voltage histogram of capacity increments, Gaussian-smoothed).",
             _PER_CELL, SOURCE, ("cycle_index", "BIGINT", "", "cycle number (cycler numbering)"),
             ("direction", "VARCHAR", "", "charge or discharge"),
             ("voltage_v", "DOUBLE", "V", "grid voltage (bin centre)"),
             ("dqdv_mah_v", "DOUBLE", "mAh/V", "incremental capacity, positive in both directions"),
             ("dqdv_mah_g_v", "DOUBLE", "mAh/g/V", "incremental capacity per gram of NCM, when the mass is known")),
    _derived("first_charge", "dqdv", "cell_id", "First-charge plateau test: an extra dQ/dV peak between 3.7 and "
             "3.9 V in the first charge that later charges lack (seed: PEO oxidation at poorly contacted NCM).",
             _PER_CELL, SOURCE,
             ("first_charge_plateau", "BOOLEAN", "", "true when the first charge shows the extra 3.7-3.9 V peak"),
             ("plateau_voltage_v", "DOUBLE", "V", "voltage of the largest first-charge excess in 3.7-3.9 V"),
             ("plateau_extra_capacity_mah", "DOUBLE", "mAh", "area of the first-charge dQ/dV peak above a straight "
              "baseline across +-60 mV"),
             ("plateau_extra_capacity_mah_g", "DOUBLE", "mAh/g", "the same per gram of NCM, when the mass is known"),
             ("peak_ratio", "DOUBLE", "", "first-charge peak area over the later charges' at that voltage"),
             ("first_charge_capacity_mah", "DOUBLE", "mAh", "capacity of the first charge"),
             ("reference_cycles", "VARCHAR", "", "later cycles whose charges were averaged as the reference")),
    _derived("gitt_pulses", "gitt", "source_sha256", "GITT pulse/relaxation pairs and diffusivity (seed Eq. 1 "
             "and 2); D1 versus voltage per cycle is the seed's Fig. 1f.",
             _PER_CELL, SOURCE, ("cycle_count", "BIGINT", "", "cycle of the pulse"),
             ("pulse_index", "BIGINT", "", "pulse number within the cycle, 1-based"),
             ("direction", "VARCHAR", "", "charge or discharge pulse"),
             ("start_time_s", "DOUBLE", "s", "test time when the pulse started (last relaxed sample)"),
             ("pulse_duration_s", "DOUBLE", "s", "pulse duration t (Eq. 1)"),
             ("current_a", "DOUBLE", "A", "mean pulse current, positive on charge"),
             ("voltage_before_v", "DOUBLE", "V", "relaxed voltage before the pulse"),
             ("voltage_v", "DOUBLE", "V", "relaxed voltage after the pulse (the abscissa of D1 vs voltage)"),
             ("delta_e_s_v", "DOUBLE", "V", "change of the steady-state voltage"),
             ("delta_e_tau_v", "DOUBLE", "V", "total voltage change during the pulse, IR drop excluded when sampled"),
             ("ir_drop_v", "DOUBLE", "V", "voltage step at the pulse start"),
             ("delta_e_tau_method", "VARCHAR", "", "sqrt_t_extrapolation, first_sample or includes_ir_drop "
              "(a pulse with one sample)"),
             ("d1", "DOUBLE", "", "normalised diffusivity (dE_s/dE_tau)^2 (Eq. 2)"),
             ("particle_radius_m", "DOUBLE", "m", "mean particle radius R_s used for Eq. 1"),
             ("diffusivity_m2_s", "DOUBLE", "m2/s", "4/(pi t) (R_s/3)^2 d1 (Eq. 1) when the radius is known")),
    _derived("eis_fits", "eis", "spectrum_id", "Equivalent-circuit fit parameters, one row per parameter.",
             ("spectrum_id", "VARCHAR", "", "see eis_spectra"), _PER_CELL,
             ("circuit", "VARCHAR", "", "circuit string (impedance.py notation)"),
             ("parameter", "VARCHAR", "", "impedance.py parameter name, e.g. R1 or CPE1_0"),
             ("role", "VARCHAR", "", "what the parameter stands for, e.g. r_interface"),
             ("value", "DOUBLE", "", "fitted value (unit in the unit column)"),
             ("stderr", "DOUBLE", "", "one-sigma standard error from the fit covariance"),
             ("unit", "VARCHAR", "", "unit of value and stderr"),
             ("residual_rms_ohm", "DOUBLE", "ohm", "RMS of the complex residual")),
    _derived("eis_results", "eis", "spectrum_id", "One row per fitted spectrum: bulk, interface and charge-transfer "
             "resistance, fit quality and ionic conductivity (Eq. 3); r_interface_ohm vs voltage_v is Fig. 3f.",
             ("spectrum_id", "VARCHAR", "", "see eis_spectra"), _PER_CELL,
             ("voltage_v", "DOUBLE", "V", "cell voltage when the spectrum was taken, if known"),
             ("circuit", "VARCHAR", "", "circuit string (impedance.py notation)"),
             ("n_points_used", "BIGINT", "", "points fitted (inductive points, Z_imag > 0, left out)"),
             ("r_bulk_ohm", "DOUBLE", "ohm", "series (bulk electrolyte) resistance R0"),
             ("r_interface_ohm", "DOUBLE", "ohm", "resistance of the higher-frequency R-CPE arc (interface)"),
             ("r_interface_ohm_cm2", "DOUBLE", "ohm*cm2", "r_interface_ohm x electrode area, when the area is known"),
             ("r_ct_ohm", "DOUBLE", "ohm", "resistance of the lower-frequency R-CPE arc (charge transfer)"),
             ("r_ct_ohm_cm2", "DOUBLE", "ohm*cm2", "r_ct_ohm x electrode area, when the area is known"),
             ("warburg_ohm_s05", "DOUBLE", "ohm/s^0.5", "Warburg coefficient A_W"),
             ("residual_rms_ohm", "DOUBLE", "ohm", "RMS of the complex residual"),
             ("residual_rel_frac", "DOUBLE", "fraction", "RMS of the residual relative to |Z|"),
             ("area_cm2", "DOUBLE", "cm2", "area S used for the area-specific values and Eq. 3"),
             ("thickness_cm", "DOUBLE", "cm", "membrane thickness L used for Eq. 3"),
             ("sigma_s_cm", "DOUBLE", "S/cm", "ionic conductivity L/(R_bulk S) (Eq. 3), when L and S are known")),
    _derived("particle_contacts", "microstructure", "source_sha256", "Per-particle contact of NCM with the "
             "conductive binder in a label volume (particles: NCM split at necks by a distance-transform watershed).",
             _PER_CELL, SOURCE, ("particle_id", "BIGINT", "", "particle label, 1-based"),
             ("volume_m3", "DOUBLE", "m3", "particle volume"),
             ("equivalent_diameter_m", "DOUBLE", "m", "diameter of the sphere of the same volume"),
             ("binder_faces", "BIGINT", "", "voxel faces touching the conductive binder"),
             ("pore_faces", "BIGINT", "", "voxel faces touching pore"),
             ("particle_faces", "BIGINT", "", "voxel faces touching another NCM particle"),
             ("contact_frac", "DOUBLE", "fraction", "binder faces / (binder + pore faces): the active surface share"),
             ("touches_boundary", "BOOLEAN", "", "the particle is cut by the box (its surface is incomplete)")),
    _derived("microstructure_stats", "microstructure", "source_sha256", "Per-volume contact distribution and "
             "phase percolation (axis z = TIFF pages = taufactor's x).",
             _PER_CELL, SOURCE, ("n_particles", "BIGINT", "", "particles found"),
             ("contact_frac_mean", "DOUBLE", "fraction", "mean per-particle contact fraction (inner particles)"),
             ("contact_frac_p10", "DOUBLE", "fraction", "10th percentile of the per-particle contact fraction"),
             ("contact_frac_median", "DOUBLE", "fraction", "median per-particle contact fraction"),
             ("contact_frac_p90", "DOUBLE", "fraction", "90th percentile of the per-particle contact fraction"),
             ("poorly_contacted_frac", "DOUBLE", "fraction", "share of inner particles with contact_frac < 0.5"),
             ("pore_percolating_frac_z", "DOUBLE", "fraction", "pore volume in clusters touching both z faces"),
             ("pore_percolating_frac_y", "DOUBLE", "fraction", "the same along y"),
             ("pore_percolating_frac_x", "DOUBLE", "fraction", "the same along x"),
             ("ncm_percolating_frac_z", "DOUBLE", "fraction", "NCM volume in clusters touching both z faces"),
             ("binder_percolating_frac_z", "DOUBLE", "fraction", "binder volume in clusters touching both z faces")),
    _derived("spectroscopy_ratios", "spectroscopy", "spectrum_id", "Local state-of-charge markers from spectra: "
             "Raman Eg/A1g peak-height ratio, STXM Ni4+/Ni3+ (Ni L3 854.4 / 852.0 eV).",
             ("spectrum_id", "VARCHAR", "", "see spectra_points"), _PER_CELL,
             ("technique", "VARCHAR", "", "raman or stxm"),
             ("ratio_name", "VARCHAR", "", "raman_eg_a1g or stxm_ni4_ni3"),
             ("ratio", "DOUBLE", "", "intensity ratio"),
             ("numerator_intensity", "DOUBLE", "a.u.", "baseline-corrected Eg (475 cm-1) or 854.4 eV intensity"),
             ("denominator_intensity", "DOUBLE", "a.u.", "baseline-corrected A1g (555 cm-1) or 852.0 eV intensity")),
)
TABLES = TABLES + (DERIVE_RUNS,) + tuple(history for history, _ in DERIVED)
VIEWS = VIEWS + tuple(view for _, view in DERIVED)

ALL: tuple[Table, ...] = TABLES + VIEWS


def table(name: str) -> Table:
    """The declared table or view called ``name``."""
    for t in ALL:
        if t.name == name:
            return t
    raise KeyError(f"no table '{name}' in the schema; tables: {', '.join(t.name for t in ALL)}")
