"""What the core needs from the outside world, as Protocols (implemented in ``store/``).

Use cases talk to PostgreSQL only through a :class:`~actors.ports.uow.UnitOfWork`: each
``async with`` is one transaction whose row-level-security scope is fixed when it opens,
and ``tx.<aggregate>`` are that transaction's repositories::

    authorize(who, Permission.USER_MANAGE, tenant_id)
    async with self.uow.tenant(tenant_id) as tx:
        user = await tx.users.create(tenant_id=tenant_id, ...)
        await tx.audit.append(tenant_id, who, "user.create", target=user.ref, after=user)

Leaving the block commits; an exception rolls everything back, audit entry included.

The live layer's ports sit with the aggregate they concern too: what the emergency watch
reads (:class:`~actors.ports.emergencies.EmergencyFeed`), what the reconciler checks
sessions against (:class:`~actors.ports.sessions.SessionDirectory`), what the manifest
feed needs from the manifests use case (:class:`~actors.ports.manifests.ManifestSource`),
the relay (:mod:`actors.ports.relay`).

One module per aggregate. Adding a repository: a Protocol in the aggregate's module
plus one attribute on :class:`~actors.ports.uow.Tx`, a module in ``store/repos/``
plus one line in ``store/uow.py``.
"""
