"""The recipe vocabulary: what a lab chooses and measures when it makes a cathode, with units, the ranges that are
physical, the ranges a lab can make, and the one validator every floor uses.

cells.csv, literature tables, `cathode predict`, the optimizer and the virtual lab all read these names and rules;
none restates them. A rule is data (a column's unit and range), so the frame validator (`validate`, polars) and the
one-recipe check (`check`, plain Python) apply the same numbers. Rows are numbered as a spreadsheet shows them:
the header is row 1, the first data row row 2.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path

from lake.errors import InputError

PROCESSES = ("cold_calendered", "hot_calendered", "in_situ_polymerized")
# The ranges a lab can make: the optimizer's default search space and the virtual lab's domain.
BOUNDS = {"loading_mg_cm2": (5, 30), "densification_frac": (0, 1), "eca_wt_frac": (0, 0.15),
          "temperature_c": (40, 80), "voltage_max_v": (4.0, 4.5), "c_rate": (0.05, 0.5)}
# The seed paper's cycling protocol (An et al. 2023: 2.8-4.2 V at 0.1 C): the demo's proposals and the benchmarks'
# objective are measured at it.
SEED_PROTOCOL = {"voltage_max_v": 4.2, "c_rate": 0.1}
# The finest step a lab weighs, sets or programs each number with: proposals are written at this precision.
STEP = {"loading_mg_cm2": 0.1, "densification_frac": 0.01, "eca_wt_frac": 0.001, "temperature_c": 1.0,
        "voltage_max_v": 0.01, "c_rate": 0.01}


@dataclass(frozen=True)
class Column:
    """One cells.csv column. Numbers carry a physical range: ``low`` (excluded when ``low_open``) to ``high``."""
    name: str
    unit: str                      # "" for text; "fraction" is 0-1, never percent
    required: bool
    meaning: str
    low: float | None = None       # None: a text column
    high: float = math.inf
    low_open: bool = False

    @property
    def number(self) -> bool:
        return self.low is not None

    def holds(self, x):
        """The range rule on a float or a polars expression (one rule, two renderings)."""
        above = (x > self.low) if self.low_open else (x >= self.low)
        return above & (x <= self.high)

    @property
    def expected(self) -> str:
        if self.unit == "fraction":
            return "a fraction within 0-1 (write 0.45 for 45 %)"
        low = f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
        high = f" and <= {self.high:g}" if math.isfinite(self.high) else ""
        return f"a number {low}{high} ({self.unit})"


def _fraction(name, required, meaning):
    return Column(name, "fraction", required, meaning, 0.0, 1.0)


# The cells.csv template, in the lab-templates document's order. Physical ranges catch unit slips (kelvin for
# degC, mV for V, percent for fractions), not unusual recipes.
COLUMNS = (
    Column("cell_id", "", True, "unique id of the cell within its source"),
    Column("process", "", True, " or ".join(PROCESSES)),
    Column("loading_mg_cm2", "mg/cm2", True, "active-material (NCM) areal loading", 0.0, 200.0, low_open=True),
    _fraction("eca_wt_frac", True, "ethyl cyanoacrylate mass fraction of the conductive binder (0 for PEO)"),
    Column("temperature_c", "degC", True, "cycling temperature", -60.0, 200.0),
    Column("voltage_max_v", "V", True, "upper cut-off voltage", 0.0, 6.0, low_open=True),
    Column("voltage_min_v", "V", False, "lower cut-off voltage", 0.0, 6.0),
    Column("c_rate", "1/h", True, "cycling rate (0.1 = C/10)", 0.0, 100.0, low_open=True),
    _fraction("densification_frac", False, "how far calendering/filling was pushed within the process window"),
    _fraction("porosity_frac", False, "measured electrode porosity"),
    _fraction("active_area_frac", False, "measured fraction of NCM surface touching the conductive binder"),
    Column("active_mass_mg", "mg", False, "NCM mass (turns mAh into mAh/g)", 0.0, low_open=True),
    Column("electrode_area_cm2", "cm2", False, "electrode area", 0.0, low_open=True),
    Column("electrolyte", "", False, "free text, e.g. PEO-LiTFSI-LLZTO"),
    Column("proposal_id", "", False, "the proposal this cell answers"),
    Column("source", "", False, "lab (default), a DOI, or text naming where the row came from"),
    Column("reference", "", False, "figure or table within the source"),
)
BY_NAME = {c.name: c for c in COLUMNS}
NAMES = tuple(BY_NAME)
REQUIRED = tuple(c.name for c in COLUMNS if c.required)        # what cells.csv requires (cell_id included)
NUMBERS = tuple(c.name for c in COLUMNS if c.number)
# What a lab chooses: the models' inputs and the optimizer's parameters. densification_frac is optional: a cell
# whose paper did not report it is still a cell (the models impute it, see models.features).
RECIPE = ("process",) + tuple(BOUNDS)
RECIPE_REQUIRED = tuple(c for c in RECIPE if c in REQUIRED)
RECIPE_OPTIONAL = tuple(c for c in RECIPE if c not in REQUIRED)
MICROSTRUCTURE = ("porosity_frac", "active_area_frac")         # measured, optional, imputable from the recipe


def has_recipe() -> pl.Expr:
    """True where a cell's every required recipe value is given: a cell to learn from. A blank optional one
    (densification_frac) does not exclude it; the models impute it."""
    import polars as pl            # in the functions: the schema (and so `cathode sql`) reads this module
    return pl.all_horizontal([pl.col(c).is_not_null() for c in RECIPE_REQUIRED])


def validate(frame: pl.DataFrame, file: str | None = None, first_row: int = 2, *, required=REQUIRED,
             rows=None, within: dict | None = None) -> pl.DataFrame:
    """``frame`` with its known columns typed (numbers Float64, text stripped, blank = null), or an InputError
    naming file, row, column, expected and found for the first broken rule: the ``required`` columns present and
    filled, numbers parse, each number within its physical range (and within ``within``, e.g. BOUNDS), a known
    process, voltage_min_v below voltage_max_v. ``rows``: each row's spreadsheet number (default first_row + i).
    Unknown columns are left as they are."""
    import polars as pl
    row_no = pl.Series("row", rows if rows is not None else range(first_row, first_row + frame.height),
                       dtype=pl.Int64)

    def fail(message, mask, name, expected, values=None):
        i = mask.arg_true()[0]
        found = "" if values is None else values[i]
        raise InputError(message, file=file, row=int(row_no[i]), column=name, expected=expected, found=found)

    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError("missing required column.", file=file, column=missing[0], expected=", ".join(required),
                         found=", ".join(c for c in frame.columns if not c.startswith("_")))
    out, written = {}, {}
    for name in (c for c in NAMES if c in frame.columns):
        values = frame[name]
        text = values.cast(pl.String).str.strip_chars().replace("", None) \
            if values.dtype in (pl.String, pl.Categorical) else None
        if BY_NAME[name].number:
            given = written[name] = text if text is not None else values
            parsed = given.cast(pl.Float64, strict=False)
            bad = parsed.is_null() & given.is_not_null()
            if bad.any():
                fail("not a number.", bad, name, "a number", given)
            out[name] = parsed.fill_nan(None)                  # NaN is "not measured", as a blank cell
        else:
            out[name] = text if text is not None else values
    typed = frame.with_columns([s.alias(n) for n, s in out.items()])
    for name in required:
        blank = typed[name].is_null()
        if blank.any():
            fail("required value is blank.", blank, name, "a value")
    if "process" in typed.columns:
        bad = typed["process"].is_not_null() & ~typed["process"].is_in(PROCESSES)
        if bad.any():
            fail("unknown process.", bad, "process", "one of " + ", ".join(PROCESSES), typed["process"])
    for name in (c for c in NUMBERS if c in typed.columns):
        col, values = BY_NAME[name], typed[name]
        bad = values.is_not_null() & ~col.holds(values)
        if bad.any():
            fail("value out of range.", bad, name, col.expected, written[name])     # as the lab wrote it
        if within and name in within:
            lo, hi = within[name]
            bad = values.is_not_null() & ~values.is_between(lo, hi)
            if bad.any():
                fail("outside the recipe space.", bad, name, f"a number in [{lo:g}, {hi:g}]", values)
    if {"voltage_min_v", "voltage_max_v"} <= set(typed.columns):
        bad = (typed["voltage_min_v"] >= typed["voltage_max_v"]).fill_null(False)
        if bad.any():
            fail("lower cut-off not below the upper one.", bad, "voltage_min_v",
                 "a voltage below voltage_max_v", typed["voltage_min_v"])
    return typed


def read(path: Path, *, required=RECIPE_REQUIRED, within: dict | None = None) -> pl.DataFrame:
    """A cells.csv-shaped file of recipes (`cathode predict`, the virtual lab's form), read as text and checked by
    `validate`; optional columns may be absent or blank, unknown ones are kept."""
    import polars as pl
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file.", file=str(path))
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV file ({str(exc).splitlines()[0]}).", file=str(path)) from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    if frame.height == 0:
        raise InputError("no data rows under the header.", file=str(path))
    return validate(frame, str(path), required=required, within=within)


def check(recipe: dict, *, required=RECIPE, within: dict | None = None, what: str = "recipe") -> dict:
    """One recipe (a dict) by the same rules as `validate`, without a frame (the virtual lab makes cells one at a
    time): returns its numbers as floats; ``what`` names it in the error."""
    out = dict(recipe)
    for name in required:
        if recipe.get(name) is None:
            raise InputError(f"{what}: required value is blank.", column=name, expected="a value", found=None)
    if "process" in recipe and recipe["process"] not in PROCESSES:
        raise InputError(f"{what}: unknown process.", column="process",
                         expected="one of " + ", ".join(PROCESSES), found=recipe["process"])
    for name in (c for c in NUMBERS if recipe.get(c) is not None):
        col, v = BY_NAME[name], recipe[name]
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or math.isnan(v):
            raise InputError(f"{what}: not a number.", column=name, expected="a number", found=v)
        if not col.holds(float(v)):
            raise InputError(f"{what}: {name} is out of range.", column=name, expected=col.expected, found=v)
        lo, hi = within[name] if within and name in within else (-math.inf, math.inf)
        if not lo <= v <= hi:
            raise InputError(f"{what}: {name} is outside the recipe space.", column=name,
                             expected=f"a number in [{lo:g}, {hi:g}]", found=v)
        out[name] = float(v)
    if out.get("voltage_min_v") is not None and out.get("voltage_max_v") is not None \
            and out["voltage_min_v"] >= out["voltage_max_v"]:
        raise InputError(f"{what}: lower cut-off not below the upper one.", column="voltage_min_v",
                         expected="a voltage below voltage_max_v", found=out["voltage_min_v"])
    return out
