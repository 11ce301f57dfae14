"""A cheap WebSocket load generator: many device sessions, few processes, minimal parsing.

Built on raw asyncio protocols with the RFC 6455 handshake and framing done by hand, so
that the server, not the generator, is what a benchmark measures. See
:mod:`bench.loadgen.coordinator` for the API; the rest is its machinery:

- ``frames`` / ``handshake``: the protocol, without I/O;
- ``session``: one device's asyncio Protocol (the hot path);
- ``worker`` / ``messages``: a worker process and what it says to the coordinator;
- ``summary``: percentiles; ``trigger``: timed HTTP triggers.
"""

from bench.loadgen.coordinator import LoadGenerator, LoadGeneratorError, SessionPlan
from bench.loadgen.messages import AuthMode
from bench.loadgen.summary import OpenSummary, RoundSummary, StormDelivery, fmt_ms
from bench.loadgen.trigger import (
    Trigger,
    Triggered,
    TriggerFailed,
    http_call,
    http_post_trigger,
)

__all__ = [
    "AuthMode",
    "LoadGenerator",
    "LoadGeneratorError",
    "OpenSummary",
    "RoundSummary",
    "SessionPlan",
    "StormDelivery",
    "Trigger",
    "TriggerFailed",
    "Triggered",
    "fmt_ms",
    "http_call",
    "http_post_trigger",
]
