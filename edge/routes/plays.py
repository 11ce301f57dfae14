"""Proof of play (docs/devices.md, "Proof of play"): plays per content item, screen, group
or day, as JSON or as a CSV download."""

from __future__ import annotations

import csv
import io
from uuid import UUID

from quart import Response

from actors.domain.plays import PlayRow
from actors.usecases.plays import PlayQuery, PlayReport
from edge.api import ApiRouter, encoded, query
from edge.auth import authenticated
from edge.container import container

router = ApiRouter("plays", __name__, tag="plays")

_TENANT = "/api/v1/tenants/<uuid:tenant_id>/plays"
CSV = "text/csv"
#: A cell starting with one of these is a formula to spreadsheets: prefixed with "'".
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@router.get(
    _TENANT,
    summary="Plays per content, device, group or UTC day over a period (viewer+)",
    query=PlayQuery,
    response=PlayReport,
    errors=(404,),
)
async def play_report(tenant_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().plays.report(who, tenant_id, query(PlayQuery)))


@router.get(
    _TENANT + "/export",
    summary="The same report as CSV: key,name,plays,duration_ms",
    query=PlayQuery,
    response=PlayRow,
    media_type=CSV,
    errors=(404,),
)
async def play_export(tenant_id: UUID) -> Response:
    who = await authenticated()
    q = query(PlayQuery)
    report = await container().plays.report(who, tenant_id, q)
    name = f"plays-{report.by}-{report.first_day}-{report.last_day}.csv"
    return Response(
        to_csv(report.items),
        content_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def to_csv(rows: list[PlayRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["key", "name", "plays", "duration_ms"])
    for row in rows:
        writer.writerow([_cell(row.key), _cell(row.name or ""), row.plays, row.duration_ms])
    return out.getvalue()


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text
