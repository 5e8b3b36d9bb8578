"""Shared infrastructure at the bottom of the package: errors, progress, precision,
the torchrun state, tensor conversions and the one identity hash. Imports nothing else
of fsbbt."""
