"""What the actor runtime raises, named by who is at fault.

- :class:`ActorStopped`: the actor is gone (stopped, passivated, given up on); the message
  was not accepted. Sending again will not help; look the actor up (or spawn it) again.
- :class:`MailboxFull`: a *block*-policy message met a full mailbox and the sender chose
  not to wait, or waited and ran out of time. The receiver is slow; retry later or shed.
- :class:`MailboxOverflow`: a *never-drop* message met a mailbox that is full even past
  its reserve. The receiver is stuck; the runtime kills it (its supervisor decides what
  next) and the sender learns synchronously that this message did not get in.
- :class:`AskTimeout`: no reply in time. The request may still be processed later.
- :class:`ActorCrashed`: the handler of *this* request raised; the actor is restarted.
- :class:`UnhandledMessage`: the receiver has no handler for the message's type; a bug at
  the sender, raised at the ``tell`` that made it.
- :class:`Escalation`: a supervisor gave up on a child and passes the failure upward.
"""

from __future__ import annotations


class ActorError(Exception):
    """Base of the runtime's errors."""


class ActorStopped(ActorError):
    """The actor does not accept messages any more (or never will again)."""


class MailboxFull(ActorError):
    """A block-policy message found the mailbox full and could not wait (longer)."""


class MailboxOverflow(ActorError):
    """A never-drop message found the mailbox full past its reserve; the actor is killed."""


class AskTimeout(ActorError, TimeoutError):
    """No reply within the ask's timeout; the request may still be handled later."""


class ActorCrashed(ActorError):
    """The actor's handler raised while processing this request (``__cause__`` says how)."""


class UnhandledMessage(ActorError, TypeError):
    """The receiving actor declares no handler for this message type."""


class Escalation(ActorError):
    """A supervisor gave up restarting a child and fails in turn.

    ``path`` names the child that exhausted its restart budget; ``__cause__`` is its last
    crash.
    """

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path


class ActorKilled(ActorError):
    """The runtime cancelled an incarnation: a handler ran past the stuck limit, or the
    mailbox overflowed its reserve. Counted as a crash."""

    def __init__(self, path: str, cause: str) -> None:
        super().__init__(f"{path} killed: {cause}")
        self.cause = cause
