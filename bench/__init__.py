"""Benchmarks for diplowatch: ``python -m bench [--quick]`` prints tables and JSON lines; nothing asserts."""
