"""Surrogate models: recipe and microstructure -> lifespan, with calibrated uncertainty. Imports lake."""
