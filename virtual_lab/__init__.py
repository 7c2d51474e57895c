"""The virtual lab: a family of simulated labs that make and test cathode recipes, for the demo, the benchmarks and
the tests. It encodes the seed paper's mechanism; it is not a validated physical model."""

SOURCE = "virtual-lab"          # the `source` of every cell it makes starts with this (then its seed)


def source(seed: int) -> str:
    return f"{SOURCE} seed={seed}"
