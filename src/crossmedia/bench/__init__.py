"""Benchmarks run through the library: ``crossmedia bench quality`` (every model × code length ×
seed under one protocol, resumable, table + JSON + plot)."""

from .quality import QualityBench, run_quality_bench

__all__ = ["QualityBench", "run_quality_bench"]
