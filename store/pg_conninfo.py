"""The libpq parameters that bound how long a node can wait on a PostgreSQL server that
went away: the connect timeout per host, and TCP keepalives plus a user timeout for a
connection whose server vanished without closing it (a powered-off host, a cut network).

With a multi-host ``DATABASE_URL`` (``postgresql://pg1:5432,pg2:5432/signage?
target_session_attrs=read-write``) psycopg tries the hosts in order, each for at most
``connect_timeout`` seconds, and keeps the first that accepts writes: that is how the pool
finds the new primary after a failover. Without a connect timeout a host that drops
packets holds every attempt for psycopg's default of 130 s before the next host is tried.

A value the URL sets itself wins: these are defaults, derived from
``DB_CONNECT_TIMEOUT_S``.
"""

from __future__ import annotations

import math

from psycopg.conninfo import conninfo_to_dict

#: libpq refuses a connect timeout under 2 s (it rounds it up), so do we, visibly.
MIN_CONNECT_TIMEOUT_S = 2
#: Unanswered keepalive probes after which the kernel declares the connection dead.
KEEPALIVE_PROBES = 3


def bounded_connection_params(conninfo: str, connect_timeout_s: float) -> dict[str, str]:
    """The parameters to add to ``conninfo`` so that connecting to one host, and noticing
    that the server of an established connection is gone, each take about
    ``connect_timeout_s`` rather than minutes.

    :raises psycopg.ProgrammingError: if ``conninfo`` is not a valid connection string.
    """
    given = conninfo_to_dict(conninfo)
    seconds = max(MIN_CONNECT_TIMEOUT_S, math.ceil(connect_timeout_s))
    interval = max(1, math.ceil(seconds / KEEPALIVE_PROBES))
    wanted = {
        "connect_timeout": str(seconds),
        "keepalives": "1",
        "keepalives_idle": str(seconds),
        "keepalives_interval": str(interval),
        "keepalives_count": str(KEEPALIVE_PROBES),
        # Data sent and never acknowledged (a query to a host that died): give up after
        # this rather than after the kernel's ~15 minutes of retransmissions.
        "tcp_user_timeout": str(seconds * 1000),
    }
    return {name: value for name, value in wanted.items() if name not in given}
