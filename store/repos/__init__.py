"""Repositories: the hand-written SQL of one aggregate per module.

Each class wraps the connection of one unit-of-work transaction (``store/uow.py``) and
implements a Protocol of ``actors/ports/`` (the module named after the aggregate). Every
statement names the owning tenant explicitly; row-level security, fixed when the
transaction opened, is the second wall.
"""
