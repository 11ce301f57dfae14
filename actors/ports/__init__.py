"""What the core needs from the outside world, as Protocols (implemented in ``store/``).

Use cases talk to PostgreSQL only through a :class:`~actors.ports.uow.UnitOfWork`: each
``async with`` is one transaction whose row-level-security scope is fixed when it opens,
and ``tx.<aggregate>`` are that transaction's repositories::

    authorize(who, Permission.USER_MANAGE, tenant_id)
    async with self.uow.tenant(tenant_id) as tx:
        user = await tx.users.create(tenant_id=tenant_id, ...)
        await tx.audit.append(tenant_id, who, "user.create", target=user.ref, after=user)

Leaving the block commits; an exception rolls everything back, audit entry included.

One module per aggregate. Adding a repository: a Protocol in the aggregate's module
plus one attribute on :class:`~actors.ports.uow.Tx`, a module in ``store/repos/``
plus one line in ``store/uow.py``.
"""
