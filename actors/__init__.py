"""The core: actor runtime, domain types and rules, use cases and the relay port.

Nothing in this package imports Quart, Hypercorn, psycopg or redis: adapters for
those live in ``edge`` and ``store`` and point inward, at the protocols defined here.
"""
