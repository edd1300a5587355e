"""Benchmarks for article-qa: run with `python -m benchmarks` (see README, Performance)."""
