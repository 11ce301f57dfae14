"""The operators' admin commands: ``signage create-admin``, ``signage reset-password``,
``signage audit verify``, and the development bootstrap admin that ``signage serve``
creates in ``ENV=dev``.

These run with database access and no HTTP: they call the use cases' operator entry
points (``Users.provision``, ``Users.operator_reset_password``,
``AuditTrail.verify_chain``), which skip authorization, and
audit as ``system:<command>``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import shlex
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any, TextIO
from uuid import UUID

import msgspec

from actors.domain.principal import AuditActor
from actors.domain.rbac import Role
from actors.errors import Conflict, Invalid, NotFound
from actors.settings import Settings
from actors.usecases.audit import AuditTrail
from actors.usecases.users import Users
from store.db import Database
from store.migrations import migrate
from store.passwords import Argon2Passwords
from store.uow import Store

#: Read by ``create-admin`` (and the dev bootstrap) instead of prompting.
PASSWORD_ENV = "SIGNAGE_ADMIN_PASSWORD"  # noqa: S105 - a variable name
DEV_ADMIN_EMAIL = "admin@localhost"
_BAR_WIDTH = 40

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def add_parsers(sub: Any) -> None:
    """Register this module's commands on ``signage``'s subparsers."""
    create = sub.add_parser(
        "create-admin",
        help="create an admin user (password from stdin or $SIGNAGE_ADMIN_PASSWORD)",
        description="Without --tenant: a platform user (platform_admin unless --role says "
        "otherwise). With --tenant: a user of that tenant (tenant_admin by default).",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--tenant", type=UUID, metavar="TENANT_ID")
    create.add_argument(
        "--role", action="append", default=[], choices=[r.value for r in Role], metavar="ROLE"
    )
    reset = sub.add_parser(
        "reset-password",
        help="set an account's password (from stdin or $SIGNAGE_ADMIN_PASSWORD), or a one-time one",
        description="For any account, platform admins included (a locked-out operator). The "
        "account's sessions end and its second factor is removed. With --temporary a one-time "
        "password is printed instead: it must be changed at the first login.",
    )
    reset.add_argument("--email", required=True)
    reset.add_argument(
        "--temporary",
        action="store_true",
        help="print a one-time password instead of reading one",
    )
    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="recompute a hash chain; exit 1 if broken")
    verify.add_argument("--tenant", type=UUID, metavar="TENANT_ID", help="default: platform")
    verify.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar (default: when stderr is a terminal)",
    )


@asynccontextmanager
async def _services(settings: Settings, url: str) -> AsyncIterator[tuple[Users, AuditTrail]]:
    db = Database(
        url,
        min_size=1,
        max_size=2,
        timeout_s=settings.database.connect_timeout_s,
        application_name="signage-cli",
    )
    await db.open(wait=True)
    try:
        store = Store(db)
        users = Users(
            store,
            Argon2Passwords.from_settings(settings.passwords),
            temporary_password_ttl_s=settings.auth.temporary_password_ttl_s,
        )
        yield users, AuditTrail(store)
    finally:
        await db.close()


def _read_password(stdin: TextIO) -> str:
    given = os.environ.get(PASSWORD_ENV)
    if given:
        return given
    if stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise Invalid("the passwords differ", field="password")
        return first
    # One line; only the line break is removed (spaces are part of a password).
    return stdin.readline().removesuffix("\n").removesuffix("\r")


async def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    from edge.cli import database_url

    url = database_url(settings)
    await migrate(url)
    try:
        password = _read_password(sys.stdin)
        async with _services(settings, url) as (users, _):
            user = await users.provision(
                args.email,
                password,
                tenant_id=args.tenant,
                roles=[Role(r) for r in args.role],
                actor=AuditActor.system("create-admin"),
            )
    except Invalid as exc:
        print(f"signage: invalid {exc.field or 'input'}: {exc.detail}", file=sys.stderr)
        return 2
    except (Conflict, NotFound) as exc:
        print(f"signage: {exc.detail}", file=sys.stderr)
        return 1
    scope = f"tenant {user.tenant_id}" if user.tenant_id else "the platform"
    roles = ", ".join(user.roles)
    print(f"created {user.email} ({roles}) in {scope}: user id {user.id}")
    return 0


async def cmd_reset_password(args: argparse.Namespace, settings: Settings) -> int:
    from edge.cli import database_url

    url = database_url(settings)
    await migrate(url)
    try:
        password = None if args.temporary else _read_password(sys.stdin)
        async with _services(settings, url) as (users, _):
            user, reset = await users.operator_reset_password(
                args.email, password, actor=AuditActor.system("reset-password")
            )
    except Invalid as exc:
        print(f"signage: invalid {exc.field or 'input'}: {exc.detail}", file=sys.stderr)
        return 2
    except NotFound as exc:
        print(f"signage: {exc.detail}", file=sys.stderr)
        return 1
    effects = f"{reset.sessions_revoked} session(s) ended"
    if reset.mfa_disabled:
        effects += ", second factor removed"
    print(f"password of {user.email} reset: {effects}")
    if reset.temporary_password is not None and reset.expires_at is not None:
        expires = reset.expires_at.astimezone(UTC)
        print(
            f"one-time password (shown once, must be changed at login, expires"
            f" {expires:%Y-%m-%d %H:%M} UTC): {reset.temporary_password}"
        )
    return 0


async def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from edge.cli import database_url

    url = database_url(settings)
    draw = sys.stderr.isatty() if args.progress is None else args.progress
    name = f"tenant {args.tenant}" if args.tenant else "platform"
    try:
        async with _services(settings, url) as (_, audit):
            report = await audit.verify_chain(
                args.tenant, progress=_ProgressBar(sys.stderr) if draw else None
            )
    except NotFound as exc:
        print(f"signage: {exc.detail}", file=sys.stderr)
        return 1
    if draw:
        print(file=sys.stderr)
    if report.ok:
        print(f"audit chain {name}: OK, {report.entries} entries, head {report.head}")
        return 0
    print(
        f"audit chain {name}: BROKEN at entry {report.first_bad_id} (seq {report.first_bad_seq}):"
        f" {report.reason}; {report.entries} entries before it are intact"
    )
    return 1


class _ProgressBar:
    """``[#####.....]  1200/5000 entries``, redrawn in place on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, done: int, total: int) -> None:
        filled = _BAR_WIDTH * done // total if total else _BAR_WIDTH
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        self._out.write(f"\r[{bar}] {done}/{total} entries")
        self._out.flush()


async def bootstrap_dev_admin(settings: Settings, url: str, host: str, port: int) -> None:
    """In ``ENV=dev`` with no platform admin yet, create ``admin@localhost`` and print how
    to log in, once. The password is $SIGNAGE_ADMIN_PASSWORD or a random one (shown)."""
    if settings.env != "dev":
        return
    given = os.environ.get(PASSWORD_ENV)
    password = given or secrets.token_urlsafe(12)
    async with _services(settings, url) as (users, _):
        if await users.platform_admin_exists():
            return
        try:
            await users.provision(
                DEV_ADMIN_EMAIL, password, actor=AuditActor.system("dev-bootstrap")
            )
        except Conflict:
            return  # another node (or an earlier run) got there first
        except Invalid as exc:
            print(f"signage: dev admin not created: {exc.detail}", file=sys.stderr)
            return
    shown = f"(from ${PASSWORD_ENV})" if given else password
    body = msgspec.json.encode({"email": DEV_ADMIN_EMAIL, "password": password}).decode()
    curl = (
        f"curl -s -X POST http://{host}:{port}/api/v1/auth/login"
        f" -H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )
    print(
        "\n  Development platform admin created (shown once):\n"
        f"    email:    {DEV_ADMIN_EMAIL}\n"
        f"    password: {shown}\n"
        f"  Log in:\n    {curl if not given else curl.replace(password, '$' + PASSWORD_ENV)}\n",
        flush=True,
    )


COMMANDS: dict[str, Command] = {
    "create-admin": cmd_create_admin,
    "reset-password": cmd_reset_password,
    "audit": cmd_audit,
}
