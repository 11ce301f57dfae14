"""The live layer of one node: what lives in its memory while screens are connected.

A device's WebSocket (edge) spawns its :class:`~actors.node.device_actor.DeviceActor`,
which owns the session and registers with its tenant's
:class:`~actors.node.tenant_actor.TenantActor` on this node; the tenant actor fans tenant
events (local or relayed) out to the device actors it knows. The services that read and
write PostgreSQL beside them are in :mod:`actors.services`.
"""
