"""Adapters to PostgreSQL (psycopg 3, hand-written SQL) and Redis.

Implements the ports the core (``actors``) defines; nothing here knows about HTTP.
"""
