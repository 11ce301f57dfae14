"""Reaching PostgreSQL when a node starts: a database that is not up yet (compose starting
everything at once, a restarted host) is retried with backoff, one log line per attempt,
then given up on with one line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import psycopg
import tenacity

log = logging.getLogger("signage")


class DatabaseUnreachable(Exception):
    """PostgreSQL did not answer within the start-up attempts."""


async def with_database[T](
    step: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    max_backoff_s: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``step`` (which connects to PostgreSQL), retrying while the server cannot be
    reached: exponential backoff from 0.5 s up to ``max_backoff_s``, at most ``attempts``
    tries, one warning line per failed try.

    :raises DatabaseUnreachable: after the last attempt (one line: the driver's reason).
    """

    def before_sleep(state: tenacity.RetryCallState) -> None:
        wait_s = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "database unreachable (attempt %d of %d): %s; retrying in %.1f s",
            state.attempt_number,
            attempts,
            _first_line(state.outcome.exception() if state.outcome else None),
            wait_s,
        )

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(psycopg.OperationalError),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=0.5, max=max_backoff_s),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )

    async def attempt() -> T:  # a coroutine function, which tenacity awaits
        return await step()

    try:
        return await retrying(attempt)
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(
            f"database unreachable after {attempts} attempt(s): {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip()
    return text.splitlines()[0] if text else type(exc).__name__
