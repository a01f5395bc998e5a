"""Webhook ingest benchmark: `make bench` (= python bench/run.py). See docs/benchmarks.md."""
