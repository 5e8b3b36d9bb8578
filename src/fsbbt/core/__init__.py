"""Shared infrastructure at the bottom of the package: errors, progress, precision,
the torchrun state, tensor conversions, the one identity hash and the one model-file
loader. Imports nothing else of fsbbt."""
