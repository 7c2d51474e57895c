"""Derived tables of `cathode derive` (analytics), registered into lake.schema.TABLES / VIEWS.

Read them through lake.schema (the one registry), which imports this module. Append-only: recomputing a unit (a cell, a
time-series file, a spectrum, a volume) appends its whole result to `<name>_history` plus one `derive_runs` row; the
view `<name>` shows each unit's latest run. Same method_version and inputs: skipped. A new method_version appends and
the view moves to it; the history keeps every earlier answer.
"""
from __future__ import annotations

from lake.schema_types import SOURCE, VERSION, Table, cols

METHOD = ("method_version", "VARCHAR", "", "version of the derivation method that computed this row")


def _derived(name: str, quantity: str, unit: str, description: str, *rows) -> tuple[Table, Table]:
    history = Table(f"{name}_history", "catalog", f"{description} Every run; the view {name} shows the latest run "
                    f"per {unit}.", cols(*rows, METHOD, VERSION))
    sql = (f"SELECT h.* FROM {name}_history h JOIN (SELECT unit_id, max(lake_version) AS v FROM derive_runs WHERE "
           f"quantity = '{quantity}' GROUP BY unit_id) r ON h.{unit} = r.unit_id AND h.lake_version = r.v")
    return history, Table(name, "view", f"{description} Latest run per {unit}.", history.columns, sql=sql)


DERIVE_RUNS = Table("derive_runs", "catalog", "One row per derivation of one unit (see the derived views).", cols(
    ("quantity", "VARCHAR", "", "cycling, dqdv, gitt, eis, microstructure or spectroscopy"),
    ("unit_id", "VARCHAR", "", "what was derived: a cell_id, a source sha256 or a spectrum_id"), METHOD,
    ("input_fingerprint", "VARCHAR", "", "inputs and options; same method + fingerprint = skipped"),
    ("n_rows", "BIGINT", "", "rows added over all derived tables"), ("note", "VARCHAR", "", "what the method noticed"),
    VERSION), key=("quantity", "unit_id", "lake_version"))
_C, _F, _B, _S = "DOUBLE", "fraction", "BOOLEAN", "VARCHAR"
_CELL = ("cell_id", "VARCHAR", "", "the cell (see cells)")
_SPEC = ("spectrum_id", "VARCHAR", "", "see eis_spectra / spectra_points")
DERIVED: tuple[tuple[Table, Table], ...] = (
    _derived("cycling_summary", "cycling", "cell_id", "Per-cell cycling metrics and early-life features.", _CELL,
             ("first_discharge_capacity_mah_g", _C, "mAh/g", "discharge capacity of the first valid cycle"),
             ("first_discharge_capacity_mah_cm2", _C, "mAh/cm2", "first discharge capacity per electrode area"),
             ("initial_capacity_mah_g", _C, "mAh/g", "best discharge capacity of cycles 1-3 (retention basis)"),
             ("cycles_tested", "BIGINT", "", "last valid cycle"),
             ("cycles_to_80", "BIGINT", "", "first cycle below 80 % retention, else cycles_tested"),
             ("censored_80", _B, "", "test ended above 80 % (cycles_to_80 is a lower bound)"),
             ("cycles_to_70", "BIGINT", "", "first cycle below 70 % retention, else cycles_tested"),
             ("censored_70", _B, "", "test ended above 70 % (cycles_to_70 is a lower bound)"),
             ("last_retention_frac", _C, _F, "retention at the last valid cycle"),
             ("mean_coulombic_efficiency_frac", _C, _F, "mean CE of cycles 2..last"),
             ("first_coulombic_efficiency_frac", _C, _F, "CE of the first cycle"),
             ("capacity_fade_frac_per_cycle", _C, "1/cycle", "minus the least-squares slope of retention vs cycle"),
             ("early_cycles", "BIGINT", "", "N: cycles 1..N used for the early-life features"),
             ("early_capacity_slope_mah_g_per_cycle", _C, "mAh/g/cycle", "slope of capacity over cycles 2..N"),
             ("early_mean_coulombic_efficiency_frac", _C, _F, "mean CE over cycles 2..N"),
             ("early_delta_q_var_log10", _C, "log10(Ah2)", "Severson 2019: log10 var(Q_100(V) - Q_10(V)), discharge"),
             ("nan_cycles_skipped", "BIGINT", "", "cycles rows without a finite discharge capacity, skipped")),
    _derived("cycle_polarisation", "cycling", "cell_id", "Per-cycle voltage polarisation.", _CELL,
             ("cycle_index", "BIGINT", "", "cycle number (cycler numbering)"),
             ("mean_charge_voltage_v", _C, "V", "time-averaged voltage while the current is positive"),
             ("mean_discharge_voltage_v", _C, "V", "time-averaged voltage while the current is negative"),
             ("polarisation_v", _C, "V", "mean charge minus mean discharge voltage"),
             ("basis", _S, "", "cycles (summary columns) or timeseries")),
    _derived("dqdv", "dqdv", "cell_id", "dQ/dV per cycle and direction on a fixed 10 mV grid.", _CELL, SOURCE,
             ("cycle_index", "BIGINT", "", "cycle number (cycler numbering)"),
             ("direction", _S, "", "charge or discharge"), ("voltage_v", _C, "V", "grid voltage (bin centre)"),
             ("dqdv_mah_v", _C, "mAh/V", "incremental capacity, positive in both directions"),
             ("dqdv_mah_g_v", _C, "mAh/g/V", "incremental capacity per gram of NCM, when the mass is known")),
    _derived("first_charge", "dqdv", "cell_id", "First-charge 3.7-3.9 V plateau test (seed: PEO oxidation at poorly "
             "contacted NCM).", _CELL, SOURCE,
             ("first_charge_plateau", _B, "", "the first charge has an extra 3.7-3.9 V dQ/dV peak later charges lack"),
             ("plateau_voltage_v", _C, "V", "voltage of the most prominent first-charge peak in 3.7-3.9 V"),
             ("plateau_extra_capacity_mah", _C, "mAh", "area of that peak above a straight baseline across +-60 mV"),
             ("plateau_extra_capacity_mah_g", _C, "mAh/g", "the same per gram of NCM, when the mass is known"),
             ("peak_ratio", _C, "", "first-charge peak area over the later charges' at that voltage"),
             ("first_charge_capacity_mah", _C, "mAh", "capacity of the first charge"),
             ("reference_cycles", _S, "", "later cycles compared (empty: judged on the first charge alone)")),
    _derived("gitt_pulses", "gitt", "source_sha256", "GITT pulses and diffusivity (seed Eq. 1, 2; Fig. 1f: d1 vs "
             "voltage_v per cycle).", _CELL, SOURCE, ("cycle_count", "BIGINT", "", "cycle of the pulse"),
             ("pulse_index", "BIGINT", "", "pulse number within the cycle, 1-based"),
             ("direction", _S, "", "charge or discharge pulse"),
             ("start_time_s", _C, "s", "test time when the pulse started (last relaxed sample)"),
             ("pulse_duration_s", _C, "s", "pulse duration t (Eq. 1)"),
             ("current_a", _C, "A", "mean pulse current, positive on charge"),
             ("voltage_before_v", _C, "V", "relaxed voltage before the pulse"),
             ("voltage_v", _C, "V", "relaxed voltage after the pulse"),
             ("delta_e_s_v", _C, "V", "change of the steady-state voltage"),
             ("delta_e_tau_v", _C, "V", "voltage change during the pulse, IR drop excluded when sampled"),
             ("ir_drop_v", _C, "V", "voltage step at the pulse start"),
             ("delta_e_tau_method", _S, "", "sqrt_t_extrapolation, first_sample or includes_ir_drop"),
             ("d1", _C, "", "normalised diffusivity (dE_s/dE_tau)^2 (Eq. 2)"),
             ("particle_radius_m", _C, "m", "mean particle radius R_s used for Eq. 1"),
             ("diffusivity_m2_s", _C, "m2/s", "4/(pi t) (R_s/3)^2 d1 (Eq. 1), when the radius is known")),
    _derived("eis_fits", "eis", "spectrum_id", "Equivalent-circuit fit parameters, one row per parameter.", _SPEC,
             _CELL, ("circuit", _S, "", "circuit string (impedance.py notation)"),
             ("parameter", _S, "", "impedance.py parameter name, e.g. R1, CPE1_0"),
             ("role", _S, "", "what the parameter stands for, e.g. r_interface"),
             ("value", _C, "", "fitted value (see unit)"), ("stderr", _C, "", "one-sigma error from the covariance"),
             ("unit", _S, "", "unit of value and stderr"), ("residual_rms_ohm", _C, "ohm", "RMS complex residual")),
    _derived("eis_results", "eis", "spectrum_id", "Per fitted spectrum: resistances, fit quality, conductivity "
             "(Eq. 3); r_interface_ohm vs voltage_v is Fig. 3f.", _SPEC, _CELL,
             ("voltage_v", _C, "V", "cell voltage when the spectrum was taken, if known"),
             ("circuit", _S, "", "circuit string (impedance.py notation)"),
             ("n_points_used", "BIGINT", "", "points fitted (inductive points, Z_imag > 0, left out)"),
             ("r_bulk_ohm", _C, "ohm", "series (bulk) resistance R0"),
             ("r_interface_ohm", _C, "ohm", "resistance of the higher-frequency R-CPE arc (interface)"),
             ("r_interface_ohm_cm2", _C, "ohm*cm2", "r_interface_ohm x area, when the area is known"),
             ("r_ct_ohm", _C, "ohm", "resistance of the lower-frequency R-CPE arc (charge transfer)"),
             ("r_ct_ohm_cm2", _C, "ohm*cm2", "r_ct_ohm x area, when the area is known"),
             ("warburg_ohm_s05", _C, "ohm/s^0.5", "Warburg coefficient A_W"),
             ("residual_rms_ohm", _C, "ohm", "RMS complex residual"),
             ("residual_rel_frac", _C, _F, "RMS residual relative to |Z|"),
             ("area_cm2", _C, "cm2", "area S"), ("thickness_cm", _C, "cm", "membrane thickness L"),
             ("sigma_s_cm", _C, "S/cm", "ionic conductivity L/(R_bulk S) (Eq. 3), when L and S are known")),
    _derived("eis_fit_points", "eis", "spectrum_id", "The fitted circuit's impedance on a log frequency grid across "
             "each fitted spectrum (what the app draws beside the points).", _SPEC, _CELL,
             ("point_index", "BIGINT", "", "0 at the highest frequency"), ("frequency_hz", _C, "Hz", "frequency"),
             ("z_real_ohm", _C, "ohm", "real part of the fitted impedance"),
             ("z_imag_ohm", _C, "ohm", "imaginary part of the fitted impedance (negative for capacitive)")),
    _derived("particle_contacts", "microstructure", "source_sha256", "Per-particle NCM contact with the binder "
             "(NCM split at necks).", _CELL, SOURCE, ("particle_id", "BIGINT", "", "particle label, 1-based"),
             ("volume_m3", _C, "m3", "particle volume"), ("equivalent_diameter_m", _C, "m", "equal-volume sphere"),
             ("binder_faces", "BIGINT", "", "voxel faces touching binder"),
             ("pore_faces", "BIGINT", "", "voxel faces touching pore"),
             ("particle_faces", "BIGINT", "", "voxel faces touching another particle"),
             ("contact_frac", _C, _F, "binder / (binder + pore) faces: the active surface share"),
             ("touches_boundary", _B, "", "cut by the box (surface incomplete)")),
    _derived("microstructure_stats", "microstructure", "source_sha256", "Per-volume contact distribution and "
             "percolation (z = TIFF pages = taufactor's x).", _CELL, SOURCE,
             ("n_particles", "BIGINT", "", "particles found"),
             ("contact_frac_mean", _C, _F, "mean particle contact_frac (particles >= 27 voxels)"),
             ("contact_frac_p10", _C, _F, "its 10th percentile"), ("contact_frac_median", _C, _F, "its median"),
             ("contact_frac_p90", _C, _F, "its 90th percentile"),
             ("poorly_contacted_frac", _C, _F, "share of particles with contact_frac < 0.5"),
             ("pore_percolating_frac_z", _C, _F, "pore volume in clusters touching both z faces"),
             ("pore_percolating_frac_y", _C, _F, "the same along y"), ("pore_percolating_frac_x", _C, _F, "along x"),
             ("ncm_percolating_frac_z", _C, _F, "NCM volume in clusters touching both z faces"),
             ("binder_percolating_frac_z", _C, _F, "binder volume in clusters touching both z faces")),
    _derived("spectroscopy_ratios", "spectroscopy", "spectrum_id", "Local SOC markers: Raman Eg/A1g, STXM "
             "Ni4+/Ni3+ (854.4 / 852.0 eV).", _SPEC, _CELL, ("technique", _S, "", "raman or stxm"),
             ("ratio_name", _S, "", "raman_eg_a1g or stxm_ni4_ni3"), ("ratio", _C, "", "intensity ratio"),
             ("numerator_intensity", _C, "a.u.", "baseline-corrected Eg or 854.4 eV intensity"),
             ("denominator_intensity", _C, "a.u.", "baseline-corrected A1g or 852.0 eV intensity")),
)
