"""Derivations: table -> table computations over ingested data."""
