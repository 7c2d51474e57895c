"""The virtual lab: a family of simulated labs that make and test cathode recipes, for the demo, the benchmarks and
the tests. It encodes the seed paper's mechanism; it is not a validated physical model."""
