"""``signage``: the operator's command line (migrate, serve, and the admin tools)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from actors.settings import ConfigError, Settings, load_settings
from edge import admin_cli
from edge.logs import configure_logging
from simulator import screen as simulate
from store.migrations import MigrationError, migrate

log = logging.getLogger("signage")

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _run(main: Coroutine[Any, Any, int]) -> int:
    from edge.server import event_loop_factory

    factory = event_loop_factory()
    if factory is None:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=factory) as runner:  # pragma: no cover - Windows
        return runner.run(main)


def database_url(settings: Settings) -> str:
    """The configured URL, or (dev only) the embedded PostgreSQL's."""
    if settings.database.url is not None:
        return settings.database.url
    if settings.is_prod:  # pragma: no cover - refused by Settings already
        raise ConfigError("DATABASE_URL: required in ENV=prod")
    from store.embedded_pg import start_embedded_postgres

    log.info("DATABASE_URL is unset: starting the embedded development PostgreSQL")
    return start_embedded_postgres(settings.database.data_dir)


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    applied = await migrate(database_url(settings))
    names = ", ".join(m.file_name for m in applied) or "nothing to do"
    print(f"migrations applied: {names}")
    return 0


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from edge.app import create_app
    from edge.lifecycle import ListenError, ShutdownSignals, bind, serve_node
    from edge.server import hypercorn_config
    from store.startup import DatabaseUnreachable, with_database

    config = hypercorn_config(settings, args.host, args.port)
    try:
        sockets = bind(config)  # before anything starts: a port in use is one line
    except ListenError as exc:
        print(f"signage: {exc}", file=sys.stderr)
        return 4
    signals = ShutdownSignals()
    signals.install()
    try:
        with signals.starting():  # a signal while starting stops the start, cleanly
            url = database_url(settings)
            applied = await with_database(
                lambda: migrate(url),
                attempts=settings.database.start_attempts,
                max_backoff_s=settings.database.start_backoff_max_s,
            )
            if applied:
                log.info("applied %d migration(s)", len(applied))
            await admin_cli.bootstrap_dev_admin(settings, url, args.host, args.port)
    except DatabaseUnreachable as exc:
        print(f"signage: {exc}", file=sys.stderr)
        return 5
    except asyncio.CancelledError:
        log.info("stopped before serving")
        signals.uninstall()
        return 0
    app = create_app(settings, database_url=url)
    try:
        await serve_node(app, config, sockets, signals, grace_s=settings.lifecycle.grace_s)
    finally:
        signals.uninstall()
    return 0


COMMANDS: dict[str, Command] = {
    "migrate": cmd_migrate,
    "serve": cmd_serve,
    **admin_cli.COMMANDS,
    **simulate.COMMANDS,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="signage", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending migrations from sql/ (idempotent, locked)")
    serve = sub.add_parser("serve", help="migrate if needed, then serve HTTP and WebSockets")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    admin_cli.add_parsers(sub)
    simulate.add_parsers(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"signage: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(json=settings.is_prod, level=settings.log_level, node_id=settings.node_id)
    try:
        return _run(COMMANDS[args.command](args, settings))
    except MigrationError as exc:
        print(f"signage: migration error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:  # pragma: no cover - interactive
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
