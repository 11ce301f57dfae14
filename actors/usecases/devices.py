"""Devices: self-registration, the claim (approval), administration and the secret check.

Registration and the self check run without an admin: they are rate-limited per source
(an IPv4 address, an IPv6 /64) and bounded in the database, so a flood can exhaust neither
memory nor storage, and each source keeps a reserve a flood from elsewhere cannot take.
Claims are never rate-limited as such: *failed* claims are counted per tenant in
PostgreSQL (every node sees one count), audited at a bounded rate, and past a budget they
block the tenant's claims for a while; an installer claiming hundreds of valid codes in
a row is never slowed down.
Every admin action is authorized first, audited in the tenant's chain in the same
transaction, and only after commit published to the live sessions on every node.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

import msgspec

from actors.domain.device_secret import hash_device_secret, new_device_secret
from actors.domain.devices import (
    Credential,
    DeviceFilter,
    DeviceName,
    DeviceView,
    GroupList,
    GroupName,
    HardwareId,
    ShortLabel,
    TimezoneName,
    check_timezone,
    normalize_groups,
)
from actors.domain.fleet import VersionBound
from actors.domain.manifest_batch import DeviceScope
from actors.domain.pairing import new_pairing_code, normalize_pairing_code
from actors.domain.principal import Principal, RequestMeta
from actors.domain.rbac import Permission, authorize
from actors.domain.throttle import ThrottlePolicy
from actors.errors import Conflict, NotFound, Throttled, Unauthenticated, Unavailable
from actors.events import DeviceRevoked, DeviceSecretRotated, DeviceUpdated
from actors.pagination import ByName, Page, PageRequest, Paging
from actors.ports.devices import PresenceReader
from actors.ports.events import TenantEvents
from actors.ports.manifests import ManifestRefresh
from actors.ports.uow import Tx, UnitOfWork
from actors.ratelimit import UNKNOWN_SOURCE, Clock, KeyedBuckets, source_key
from actors.settings import Settings
from actors.usecases.manifests import ManifestSizeGuard

log = logging.getLogger(__name__)

#: Pairing-code draws before giving up (a collision needs ~10^5 live codes to be likely).
CODE_ATTEMPTS = 5
#: Expired registrations deleted per registration (housekeeping paid by the newcomers).
PURGE_BATCH = 100


class RegisterDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    hardware_id: HardwareId
    model: ShortLabel | None = None
    app_version: ShortLabel | None = None


class Registered(msgspec.Struct, frozen=True):
    device_id: UUID
    #: Shown once; only its SHA-256 is stored.
    device_secret: str
    pairing_code: str
    pairing_expires_at: datetime


SelfStatus = Literal["pending", "approved", "revoked", "suspended"]
"""What a screen learns of itself: its own status, or ``suspended`` when it is approved
into a tenant that is suspended (it cannot connect until the tenant is resumed)."""


class DeviceSelf(msgspec.Struct, frozen=True):
    device_id: UUID
    status: SelfStatus
    tenant_id: UUID | None

    @classmethod
    def of(cls, found: Credential) -> DeviceSelf:
        status: SelfStatus = found.status
        if status == "approved" and not found.tenant_active:
            status = "suspended"
        return cls(device_id=found.device_id, status=status, tenant_id=found.tenant_id)


class ClaimDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pairing_code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    name: DeviceName
    groups: GroupList = msgspec.field(default_factory=list)
    timezone: TimezoneName = "UTC"


class UpdateDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: DeviceName | None = None
    groups: GroupList | None = None
    timezone: TimezoneName | None = None


class DeviceQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../devices?limit=&cursor=&offline_for_min=&app_version_below=&group=``: by
    name, then id; each filter optional (docs/devices.md, "Status")."""

    #: Approved devices offline for longer than this many minutes (at most a year).
    offline_for_min: Annotated[int, msgspec.Meta(ge=1, le=525_600)] | None = None
    #: Devices whose app version is below this one (``2.4``, ``v1.10.3``).
    app_version_below: VersionBound | None = None
    group: GroupName | None = None

    @property
    def filters(self) -> DeviceFilter:
        return DeviceFilter(
            offline_for_min=self.offline_for_min,
            app_version_below=self.app_version_below,
            group=self.group,
        )


class DeviceList(msgspec.Struct, frozen=True):
    items: list[DeviceView]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class RotatedSecret(msgspec.Struct, frozen=True):
    device_id: UUID
    device_secret: str


class DeviceLimits(msgspec.Struct, frozen=True, kw_only=True):
    pairing_ttl_s: int
    max_pending_per_source: int
    max_pending: int
    reserved_per_source: int
    reserve_total: int
    claims: ThrottlePolicy
    claim_audit_every_s: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DeviceLimits:
        return cls(
            pairing_ttl_s=settings.registration.pairing_ttl_s,
            max_pending_per_source=settings.registration.max_pending_per_source,
            max_pending=settings.registration.max_pending,
            reserved_per_source=settings.registration.reserved_per_source,
            reserve_total=settings.registration.reserve_total,
            claims=ThrottlePolicy(
                max_failures=settings.claims.max_failures,
                window_s=settings.claims.window_s,
                base_block_s=settings.claims.block_base_s,
                max_block_s=settings.claims.block_max_s,
            ),
            claim_audit_every_s=settings.claims.audit_every_s,
        )

    def admits_registration(self, from_source: int, total: int) -> bool:
        """Whether a source holding ``from_source`` live pending registrations (of
        ``total`` in all) may add one: below its own cap, and either within the shared cap
        or, past it, within its reserved share while the reserve itself lasts."""
        if from_source >= self.max_pending_per_source:
            return False
        if total < self.max_pending:
            return True
        return (
            from_source < self.reserved_per_source and total < self.max_pending + self.reserve_total
        )


class Devices:
    def __init__(
        self,
        uow: UnitOfWork,
        events: TenantEvents,
        presence: PresenceReader,
        settings: Settings,
        clock: Clock = time.monotonic,
        manifests: ManifestRefresh | None = None,
    ) -> None:
        self._uow = uow
        self._events = events
        self._presence = presence
        self._manifests = manifests
        self._limits = DeviceLimits.from_settings(settings)
        self._manifest_sizes = ManifestSizeGuard.from_settings(settings)
        cap = settings.http.rate_limit_max_keys
        self._registrations = KeyedBuckets(
            settings.registration.per_s, settings.registration.burst, max_keys=cap, clock=clock
        )
        self._polls = KeyedBuckets(
            settings.registration.poll_per_s,
            settings.registration.poll_burst,
            max_keys=cap,
            clock=clock,
        )

    # -- unauthenticated: the screen itself ------------------------------------------------

    async def register(self, meta: RequestMeta, cmd: RegisterDevice) -> Registered:
        """A new pending device with a one-time secret and a pairing code.

        :raises Throttled: (429) past the per-source rate or pending limits.
        :raises Unavailable: if no free pairing code could be drawn (practically never).
        """
        source = meta.source_ip or UNKNOWN_SOURCE
        prefix = source_key(meta.source_ip)
        self._registrations.check(prefix, "registrations from this address")
        secret = new_device_secret()
        secret_hash = hash_device_secret(secret)
        assert secret_hash is not None
        device_id = uuid4()
        async with self._uow.platform() as tx:
            await tx.devices.purge_expired_registrations(limit=PURGE_BATCH)
            from_source, total = await tx.devices.pending_counts(prefix)
            if not self._limits.admits_registration(from_source, total):
                raise Throttled(
                    "too many pending registrations; claim or let some expire",
                    retry_after=min(self._limits.pairing_ttl_s, 60),
                )
            for _ in range(CODE_ATTEMPTS):
                code = new_pairing_code()
                expires_at = await tx.devices.register(
                    device_id=device_id,
                    secret_hash=secret_hash,
                    hardware_id=cmd.hardware_id,
                    model=cmd.model,
                    app_version=cmd.app_version,
                    source=source,
                    prefix=prefix,
                    pairing_code=code,
                    pairing_ttl_s=self._limits.pairing_ttl_s,
                )
                if expires_at is not None:
                    break
            else:
                raise Unavailable("no free pairing code; retry shortly")
        log.info("device %s registered from %s", device_id, source)
        return Registered(
            device_id=device_id,
            device_secret=secret,
            pairing_code=code,
            pairing_expires_at=expires_at,
        )

    async def purge_expired_registrations(self) -> int:
        """Delete pending registrations whose pairing code expired (housekeeping job)."""
        async with self._uow.platform() as tx:
            return await tx.devices.purge_expired_registrations(limit=PURGE_BATCH * 10)

    async def credential(self, secret: str) -> Credential:
        """Who presents ``secret`` (any status: the caller decides what each means).

        :raises Unauthenticated: (401) for a malformed or unknown secret.
        """
        digest = hash_device_secret(secret)
        if digest is None:
            raise Unauthenticated("unknown device secret")
        async with self._uow.platform() as tx:
            found = await tx.devices.credential(digest)
        if found is None:
            raise Unauthenticated("unknown device secret")
        return found

    async def self_status(self, meta: RequestMeta, secret: str) -> DeviceSelf:
        """What a (pending) screen polls to learn it has been approved.

        :raises Throttled: (429) past the per-source poll rate.
        :raises Unauthenticated: (401) for an unknown secret.
        """
        self._polls.check(source_key(meta.source_ip), "status checks from this address")
        return DeviceSelf.of(await self.credential(secret))

    # -- device managers ------------------------------------------------------------------

    async def claim(self, who: Principal, tenant_id: UUID, cmd: ClaimDevice) -> DeviceView:
        """Approve the screen showing ``cmd.pairing_code`` into ``tenant_id``.

        Successful claims are never throttled. Failed ones (an unknown, expired, used or
        malformed code) are counted for the tenant, on every node; past the budget every
        claim of the tenant is refused for a while — valid codes too, or the refusal would
        tell a guesser which codes are live.

        :raises NotFound: (404) for an unknown, expired or already used code.
        :raises Throttled: (429) while the tenant's claims are blocked by failures.
        :raises Conflict: (409) if the tenant is suspended.
        """
        authorize(who, Permission.DEVICE_MANAGE, tenant_id)
        code = normalize_pairing_code(cmd.pairing_code)
        timezone = check_timezone(cmd.timezone)
        async with self._uow.platform() as tx:
            # The tenant's row lock orders its claims on every node: the block check, the
            # claim and the failure count of one attempt never interleave with another's.
            tenant = await tx.tenants.get(tenant_id, for_update=True)
            if tenant is None:
                raise NotFound("no such tenant")
            if not tenant.active:
                raise Conflict("the tenant is suspended")
            blocked_s = await tx.claims.retry_after(tenant_id)
            if blocked_s:
                raise Throttled("too many failed claims in this tenant", retry_after=blocked_s)
            device = None
            if code is not None:
                device = await tx.devices.claim(
                    tenant_id=tenant_id,
                    pairing_code=code,
                    name=cmd.name,
                    groups=normalize_groups(cmd.groups),
                    timezone=timezone,
                    claimed_by=who.user_id,
                )
            if device is None:
                await self._count_failed_claim(tx, who, tenant_id, malformed=code is None)
            else:
                await self._manifest_sizes.check(tx, tenant_id, DeviceScope.devices(device.id))
                await tx.audit.append(
                    tenant_id, who, "device.claim", target=device.ref, after=device
                )
        if device is None:  # raised after commit: the failure stays counted
            raise NotFound("unknown or expired pairing code")
        if self._manifests is not None:  # ready before the screen's first session
            self._manifests.refresh(tenant_id, DeviceScope.devices(device.id))
        return DeviceView.of(device, None)

    async def _count_failed_claim(
        self, tx: Tx, who: Principal, tenant_id: UUID, *, malformed: bool
    ) -> None:
        limits = self._limits
        failure = await tx.claims.count_failure(
            tenant_id,
            window_s=limits.claims.window_s,
            audit_every_s=limits.claim_audit_every_s,
        )
        block_s = limits.claims.block_for(failure.failures)
        if block_s:
            await tx.claims.block(tenant_id, block_s)
        log.warning(
            "failed pairing-code claim: tenant %s, user %s, %d failures in the window",
            tenant_id,
            who.user_id,
            failure.failures,
        )
        if failure.audit_due:
            # One entry per CLAIM_AUDIT_EVERY_S at most: a guesser cannot flood the chain.
            # The typed code is not kept (a near miss of a real one would be on record).
            await tx.audit.append(
                tenant_id,
                who,
                "device.claim_failed",
                target=f"tenant:{tenant_id}",
                details={
                    "reason": "malformed code" if malformed else "unknown or expired code",
                    "failures_since_last_entry": failure.unaudited,
                    "failures_in_window": failure.failures,
                    "blocked_s": block_s,
                },
            )
            await tx.claims.audited(tenant_id)

    async def list(
        self,
        who: Principal,
        tenant_id: UUID,
        page: PageRequest[ByName],
        filters: DeviceFilter | None = None,
    ) -> Page[DeviceView, ByName]:
        """One page of the tenant's devices, by name then id, with presence and reported
        status. With ``offline_for_min``, devices online now are left out of the page
        (which may then hold fewer than ``limit``: follow ``next_cursor``)."""
        authorize(who, Permission.DEVICE_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            found = page.page(
                await tx.devices.page(tenant_id, page, filters), lambda d: ByName(d.name, d.id)
            )
            health = await tx.fleet.health(tenant_id, [d.id for d in found.items])
        online = await self._presence.lookup(tenant_id, [d.id for d in found.items])
        views = found.map(lambda d: DeviceView.of(d, online.get(d.id), health.get(d.id)))
        if filters is not None and filters.offline_for_min is not None:
            return Page(items=[v for v in views.items if not v.online], next=views.next)
        return views

    async def get(self, who: Principal, tenant_id: UUID, device_id: UUID) -> DeviceView:
        authorize(who, Permission.DEVICE_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            device = await tx.devices.get(tenant_id, device_id)
            health = await tx.fleet.health(tenant_id, [device_id])
        if device is None:
            raise NotFound("no such device")
        online = await self._presence.lookup(tenant_id, [device_id])
        return DeviceView.of(device, online.get(device_id), health.get(device_id))

    async def update(
        self, who: Principal, tenant_id: UUID, device_id: UUID, cmd: UpdateDevice
    ) -> DeviceView:
        """Rename, regroup or move to another time zone (each optional)."""
        authorize(who, Permission.DEVICE_MANAGE, tenant_id)
        timezone = None if cmd.timezone is None else check_timezone(cmd.timezone)
        groups = None if cmd.groups is None else normalize_groups(cmd.groups)
        async with self._uow.tenant(tenant_id) as tx:
            before = await tx.devices.get(tenant_id, device_id, for_update=True)
            if before is None:
                raise NotFound("no such device")
            if before.status == "revoked":
                raise Conflict("the device is revoked")
            after = await tx.devices.update(
                tenant_id, device_id, name=cmd.name, groups=groups, timezone=timezone
            )
            if after == before:
                return DeviceView.of(after, None)
            await self._manifest_sizes.check(tx, tenant_id, DeviceScope.devices(device_id))
            await tx.audit.append(
                tenant_id, who, "device.update", target=after.ref, before=before, after=after
            )
        await self._events.publish(
            tenant_id, DeviceUpdated(device_id, groups=after.groups, timezone=after.timezone)
        )
        if self._manifests is not None:  # groups and time zone decide what it plays
            self._manifests.refresh(tenant_id, DeviceScope.devices(device_id))
        online = await self._presence.lookup(tenant_id, [device_id])
        return DeviceView.of(after, online.get(device_id))

    async def revoke(self, who: Principal, tenant_id: UUID, device_id: UUID) -> DeviceView:
        """Revoke for good (idempotent): the secret is refused from now, and live sessions
        on every node are closed (4401) within the relay's latency."""
        authorize(who, Permission.DEVICE_MANAGE, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            before = await tx.devices.get(tenant_id, device_id, for_update=True)
            if before is None:
                raise NotFound("no such device")
            after = before
            if before.status != "revoked":
                after = await tx.devices.revoke(tenant_id, device_id)
                await tx.audit.append(
                    tenant_id, who, "device.revoke", target=after.ref, before=before, after=after
                )
        # Published even when already revoked: a node that missed the first one closes now.
        await self._events.publish(tenant_id, DeviceRevoked(device_id))
        return DeviceView.of(after, None)

    async def rotate_secret(
        self, who: Principal, tenant_id: UUID, device_id: UUID
    ) -> RotatedSecret:
        """A new secret for an approved device; sessions on the old one are closed."""
        authorize(who, Permission.DEVICE_MANAGE, tenant_id)
        secret = new_device_secret()
        digest = hash_device_secret(secret)
        assert digest is not None
        async with self._uow.tenant(tenant_id) as tx:
            before = await tx.devices.get(tenant_id, device_id, for_update=True)
            if before is None:
                raise NotFound("no such device")
            if before.status != "approved":
                raise Conflict(f"the device is {before.status}")
            device, old = await tx.devices.set_secret(tenant_id, device_id, digest)
            await tx.audit.append(tenant_id, who, "device.rotate_secret", target=device.ref)
        await self._events.publish(tenant_id, DeviceSecretRotated(device_id, old_secret_digest=old))
        return RotatedSecret(device_id=device_id, device_secret=secret)
