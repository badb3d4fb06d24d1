"""Benchmarks (not timed tests): web page latency and progress event latency."""
