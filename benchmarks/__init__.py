"""Benchmarks of the package's estimators against the models people would otherwise use."""
