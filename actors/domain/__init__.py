"""Domain types and rules: pure code, no I/O, no framework."""
