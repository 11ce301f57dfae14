"""Live device sessions on this node: device actors, tenant actors, outboxes, presence.

A device's WebSocket (edge) spawns its :class:`DeviceActor`, which owns the session and
registers with its tenant's :class:`TenantActor` on this node; the tenant actor fans
tenant events (local or relayed) out to the device actors it knows.
"""
