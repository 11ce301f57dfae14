"""``GET /metrics``: the node's Prometheus metrics, in the text exposition format 0.0.4.

No authentication, like ``/health``: bind it to a private interface (or let the reverse
proxy refuse it) in production. Rendering reads counters and walks the live actors once;
it never waits on an actor.
"""

from __future__ import annotations

from quart import Response

from actors.metrics import CONTENT_TYPE
from edge.api import ApiRouter
from edge.container import container

router = ApiRouter("metrics", __name__, tag="health")


@router.get(
    "/metrics", summary="Prometheus metrics (text format 0.0.4)", auth=None, media_type="text/plain"
)
async def metrics() -> Response:
    return Response(container().metrics.render(), status=200, content_type=CONTENT_TYPE)
