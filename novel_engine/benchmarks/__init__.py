"""Benchmarks that read what the engine produces (``novel-engine bench story``)."""
