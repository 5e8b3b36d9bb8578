"""The configuration schema and how a config is read: one YAML file (or a tree built in
code), ``--set`` overrides, unknown keys refused, every mistake one line.

This package knows the run-wide keys and the teacher and student sections. The sections
a method owns (``synthesis``, ``cvae``, ``bbkd``) are declared by the methods
themselves, and :mod:`fsbbt.experiment.config` assembles the full schema from them.
"""
