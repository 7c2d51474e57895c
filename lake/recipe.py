"""The recipe vocabulary: what a lab chooses when it makes a cathode, with units, and the ranges it can make.

Every other floor reads these names (cells.csv, literature tables, predict, propose, the search space, the virtual
lab); none restates them.
"""
from __future__ import annotations

PROCESSES = ("cold_calendered", "hot_calendered", "in_situ_polymerized")
# The ranges a lab can make: the optimizer's default search space and the virtual lab's domain.
BOUNDS = {"loading_mg_cm2": (5, 30), "densification_frac": (0, 1), "eca_wt_frac": (0, 0.15),
          "temperature_c": (40, 80), "voltage_max_v": (4.0, 4.5), "c_rate": (0.05, 0.5)}
