"""The actor runtime: mailboxes, supervision, a registry, inspection (SPEC §1, §5.8).

Built on anyio only (it runs on asyncio and on trio alike); see ``docs/actors.md``.
The public surface is what this module exports; the submodules are its parts:
``mailbox`` (bounded queue, overflow policies), ``actor`` (base class, ``@handler``),
``ref`` (tell / send / ask), ``cell`` (one actor's lifecycle), ``supervisor``
(restart policy, escalation), ``registry`` (names, spawn on demand, passivation),
``runtime`` (the root of it all).
"""

from actors.runtime.actor import Actor, StopReason, handler
from actors.runtime.errors import (
    ActorCrashed,
    ActorError,
    ActorKilled,
    ActorStopped,
    AskTimeout,
    Escalation,
    MailboxFull,
    MailboxOverflow,
    UnhandledMessage,
)
from actors.runtime.mailbox import Mailbox, Overflow
from actors.runtime.ref import ActorRef
from actors.runtime.registry import ActorKind, DuplicateActor
from actors.runtime.runtime import ROOT, Runtime, RuntimeConfig, Service
from actors.runtime.snapshot import ActorSnapshot, SupervisorSnapshot
from actors.runtime.supervisor import RestartPolicy, Supervisor

__all__ = [
    "ROOT",
    "Actor",
    "ActorCrashed",
    "ActorError",
    "ActorKilled",
    "ActorKind",
    "ActorRef",
    "ActorSnapshot",
    "ActorStopped",
    "AskTimeout",
    "DuplicateActor",
    "Escalation",
    "Mailbox",
    "MailboxFull",
    "MailboxOverflow",
    "Overflow",
    "RestartPolicy",
    "Runtime",
    "RuntimeConfig",
    "Service",
    "StopReason",
    "Supervisor",
    "SupervisorSnapshot",
    "UnhandledMessage",
    "handler",
]
