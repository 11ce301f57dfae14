"""Benchmarks: reports, not pass/fail tests.

``make bench`` runs :mod:`bench.run_all`; the figures go to ``bench/RESULTS.md``.
Everything here talks to loopback addresses only.
"""
