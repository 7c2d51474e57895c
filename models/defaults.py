"""The models' defaults that the `cathode` command shows in its help: kept apart so that the help loads no
estimator library."""

DEFAULT_TARGETS = ("cycles_to_80", "initial_areal_capacity")
DEFAULT_N = 50        # cycles the early-life model reads (the first N of a cell under test)
