"""The recipe vocabulary's one validator: every rule names file, row, column, expected and found; the frame
validator and the one-recipe check apply the same numbers."""
from __future__ import annotations

import math

import polars as pl
import pytest

from lake import recipe
from lake.errors import InputError

GOOD = {"cell_id": "A1", "process": "hot_calendered", "loading_mg_cm2": 12.7, "eca_wt_frac": 0.05,
        "temperature_c": 60.0, "voltage_max_v": 4.2, "voltage_min_v": 2.8, "c_rate": 0.1,
        "densification_frac": 0.5}
BAD = [("loading_mg_cm2", 0.0, "> 0"), ("loading_mg_cm2", 250.0, "<= 200"), ("eca_wt_frac", 5.0, "0-1"),
       ("temperature_c", 333.15, "<= 200"), ("voltage_max_v", 4200.0, "<= 6"), ("c_rate", -0.1, "> 0"),
       ("densification_frac", 1.5, "0-1"), ("voltage_min_v", 4.2, "below voltage_max_v"),
       ("process", "sintered", "one of cold_calendered")]


def _text_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{k: "" if v is None else str(v) for k, v in r.items()} for r in rows])


@pytest.mark.parametrize("column, value, expected", BAD, ids=[f"{c}={v}" for c, v, _ in BAD])
def test_frame_and_single_recipe_reject_alike(column, value, expected):
    with pytest.raises(InputError) as frame_err:
        recipe.validate(_text_frame([GOOD, {**GOOD, column: value}]), "cells.csv")
    assert frame_err.value.row == 3 and frame_err.value.column == column and expected in str(frame_err.value)
    assert str(value) in str(frame_err.value) and str(frame_err.value).startswith("cells.csv, row 3")
    with pytest.raises(InputError) as one_err:
        recipe.check({**GOOD, column: value})
    assert one_err.value.column == column and expected in str(one_err.value)


def test_a_good_frame_comes_back_typed_with_blanks_as_null():
    frame = _text_frame([GOOD, {**GOOD, "cell_id": " B1 ", "densification_frac": None, "binder": "x"}])
    typed = recipe.validate(frame, "cells.csv")
    assert typed["loading_mg_cm2"].dtype == pl.Float64 and typed["densification_frac"].to_list() == [0.5, None]
    assert typed["cell_id"].to_list() == ["A1", "B1"] and typed["binder"].to_list() == [None, "x"]
    assert recipe.check({k: v for k, v in GOOD.items() if k != "densification_frac"},
                        required=recipe.RECIPE_REQUIRED)["loading_mg_cm2"] == 12.7


def test_required_blanks_and_missing_columns_and_nan_are_named():
    with pytest.raises(InputError, match=r"row 2, column 'c_rate'.*required value is blank"):
        recipe.validate(pl.DataFrame([{**GOOD, "c_rate": math.nan}]), "f.csv")
    with pytest.raises(InputError, match=r"column 'temperature_c'.*missing required column"):
        recipe.validate(_text_frame([{k: v for k, v in GOOD.items() if k != "temperature_c"}]), "f.csv")
    with pytest.raises(InputError, match=r"row 7, column 'loading_mg_cm2'.*a number.*'thick'"):
        recipe.validate(_text_frame([{**GOOD, "loading_mg_cm2": "thick"}]), "f.csv", first_row=7)
    with pytest.raises(InputError, match="densification_frac"):
        recipe.check({k: v for k, v in GOOD.items() if k != "densification_frac"})    # RECIPE by default
    with pytest.raises(InputError, match="not a number"):
        recipe.check({**GOOD, "loading_mg_cm2": True})


def test_within_narrows_to_the_recipe_space():
    frame = _text_frame([{**GOOD, "c_rate": 1.0}])
    assert recipe.validate(frame, "f.csv")["c_rate"].to_list() == [1.0]       # physical: fine
    with pytest.raises(InputError, match=r"row 2, column 'c_rate'.*recipe space.*\[0.05, 0.5\]"):
        recipe.validate(frame, "f.csv", within=recipe.BOUNDS)
    with pytest.raises(InputError, match=r"recipe space.*\[0.05, 0.5\]"):
        recipe.check({**GOOD, "c_rate": 1.0}, within=recipe.BOUNDS)


def test_has_recipe_needs_only_the_required_values():
    frame = pl.DataFrame([GOOD, {**GOOD, "densification_frac": None}, {**GOOD, "c_rate": None}])
    assert frame.select(recipe.has_recipe())[:, 0].to_list() == [True, True, False]
