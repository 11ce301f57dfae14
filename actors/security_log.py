"""Refusals worth an operator's attention, as WARNING lines on ``signage.security``.

The edge logs every 403, every 404 a tenant user gets for another tenant's URL, and every
refused login (``edge/access_log.py``). Use cases call :func:`principal_refused` for
refusals the HTTP status does not tell apart — a failed pairing-code claim is a plain 404
— so an attack (a guessed code, a probed id) leaves a trace with who, which tenant and
which request. This is a log, not the audit trail: it may be sampled or lost; what must be
kept goes through the audit trail as well.

Never pass a secret (password, token, pairing code, device secret) in ``details``.
"""

from __future__ import annotations

import logging
from uuid import UUID

from actors.domain.principal import Principal

LOGGER = "signage.security"
log = logging.getLogger(LOGGER)


def refused(
    event: str,
    *,
    user: str | None,
    tenant_id: UUID | None,
    target_tenant_id: UUID | None = None,
    request_id: str | None = None,
    reason: str | None = None,
    **details: object,
) -> None:
    """One WARNING line: ``event`` (``http.forbidden``, ``device.claim_failed``...), the
    caller (``user:<uuid>``, ``device:<uuid>`` or ``None``), the caller's tenant, the
    tenant the request named, the request id and ``details``. Inside a request the edge's
    log filter adds the route template."""
    log.warning(
        "refused %s: user=%s tenant=%s target_tenant=%s%s",
        event,
        user,
        tenant_id,
        target_tenant_id,
        f" ({reason})" if reason else "",
        extra={
            "event": event,
            "user": user,
            "tenant": None if tenant_id is None else str(tenant_id),
            "target_tenant": None if target_tenant_id is None else str(target_tenant_id),
            "request_id": request_id,
            "reason": reason,
            **details,
        },
    )


def principal_refused(
    who: Principal, event: str, target_tenant_id: UUID | None, reason: str, **details: object
) -> None:
    """:func:`refused` for an authenticated user: takes user, tenant, request id and
    source address from ``who``.

    Example (a failed claim)::

        principal_refused(who, "device.claim_failed", tenant_id, "unknown or expired code")
    """
    refused(
        event,
        user=f"user:{who.user_id}",
        tenant_id=who.tenant_id,
        target_tenant_id=target_tenant_id,
        request_id=who.request_id,
        reason=reason,
        client=who.source_ip,
        **details,
    )
