"""Benchmarks: each measured side by side with the tool a user would pick instead."""
