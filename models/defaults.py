"""The models' defaults that the `cathode` command shows in its help: kept apart so that the help loads no
estimator library."""
from analytics.early_life import EARLY_CYCLES as DEFAULT_N  # noqa: F401  (the early-life model reads N cycles)

DEFAULT_TARGETS = ("cycles_to_80", "initial_areal_capacity")
