"""Use cases: the rules and the order of effects of each thing a caller can ask for.

Each public method authorizes first (``actors.domain.rbac.authorize``), then runs its reads
and writes in unit-of-work transactions (``actors.ports``), auditing in the same
transaction as the change. No SQL, no HTTP here.
"""
