"""Emergency templates: pre-written emergencies, approved by a second person — pure.

A template is a trigger written in advance (:class:`CreateTemplate` *is* a
:class:`~actors.domain.emergencies.TriggerEmergency` plus a name: the same fields, types
and limits, so a template can hold nothing a trigger would refuse). Its life::

    pending_approval ──approve──▶ approved ──archive──▶ archived
           └──────────────────archive──────────────────────┘

- **Four eyes.** A person other than its creator approves it (403 for the creator, like
  content). Approvals are people's: an integration credential cannot approve (403), since
  a token's approval would be its creator's second pair of eyes looking at their own work.
  For the same reason only people write templates.
- **What was approved is what triggers**: a template is never edited (PostgreSQL refuses
  it too); archive it and write a new one.
- **Triggering** takes the approved template alone (``{"template_id"}``), the one-click
  path for a person under stress; it may narrow or change the audience (``target``) and
  run it as a drill (``mode``), never change its message, severity or expiry. That is no
  new power: whoever may trigger a template may trigger any message to any screen.
  A pending or archived template cannot be triggered (409).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from actors.domain.emergencies import EmergencyMessage, ExpiresIn, TriggerEmergency
from actors.domain.targets import Target, TargetSpec
from actors.errors import Conflict, Forbidden, Invalid
from actors.protocol import EmergencyMode, Severity

#: Templates a tenant keeps at most, archived ones not counted: a menu, not a log.
MAX_TEMPLATES = 500

TemplateState = Literal["pending_approval", "approved", "archived"]
TemplateAction = Literal[
    "emergency_template.create", "emergency_template.approve", "emergency_template.archive"
]

#: One line of visible text.
TemplateName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^(?=.*\S)[^\x00-\x1f\x7f]+$")
]


class CreateTemplate(TriggerEmergency, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST .../emergency-templates``: a trigger's body (validated as one) and a name."""

    name: TemplateName


class TemplateTrigger(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A trigger naming an approved template, with the overrides it allows."""

    template_id: UUID
    #: Another audience for the approved message (default: the template's).
    target: TargetSpec | None = None
    #: ``drill`` to rehearse a live template, or the reverse (default: the template's).
    mode: EmergencyMode | None = None


class TriggerRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST .../emergencies``: a full trigger (``message``, ``severity``, ``target``,
    ``expires_in_s``?, ``mode``?) or ``template_id`` (with ``target``? and ``mode``?)."""

    message: EmergencyMessage | None = None
    severity: Severity | None = None
    target: TargetSpec | None = None
    expires_in_s: ExpiresIn | None = None
    mode: EmergencyMode | None = None
    template_id: UUID | None = None

    def resolve(self) -> TriggerEmergency | TemplateTrigger:
        """Which of the two triggers this is.

        :raises Invalid: (422) naming the field: a missing one of a full trigger, or one
            a template fixes (``message``, ``severity``, ``expires_in_s``).
        """
        if self.template_id is not None:
            for name in ("message", "severity", "expires_in_s"):
                if getattr(self, name) is not None:
                    raise Invalid(
                        f"{name} comes from the approved template: leave it out", field=name
                    )
            return TemplateTrigger(self.template_id, target=self.target, mode=self.mode)
        if self.message is None:
            raise Invalid("give a message, or the template_id of an approved template", "message")
        if self.severity is None:
            raise Invalid("give a severity: info, warning or critical", field="severity")
        if self.target is None:
            raise Invalid("give a target: all, groups or device_ids", field="target")
        return TriggerEmergency(
            message=self.message,
            severity=self.severity,
            target=self.target,
            expires_in_s=self.expires_in_s,
            mode=self.mode or "live",
        )


class EmergencyTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """One template of one tenant, as stored."""

    id: UUID
    tenant_id: UUID
    name: str
    message: str
    severity: Severity
    target: Target
    expires_in_s: int | None
    mode: EmergencyMode
    state: TemplateState
    #: Who wrote it / approved it / archived it, as audit names them (``user:<id>``).
    created_by: str
    created_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    archived_by: str | None = None
    archived_at: datetime | None = None

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"emergency_template:{self.id}"


def ensure_author(is_person: bool) -> None:
    """:raises Forbidden: for an integration credential (templates are people's work)."""
    if not is_person:
        raise Forbidden("emergency templates are written by people, not by integrations")


def ensure_approvable(template: EmergencyTemplate, approver_ref: str, is_person: bool) -> None:
    """Whether ``approver_ref`` may approve ``template`` now.

    :raises Forbidden: for an integration credential, or the template's creator.
    :raises Conflict: unless it is pending approval.
    """
    if not is_person:
        raise Forbidden("a template is approved by a person: an integration cannot approve")
    if template.state != "pending_approval":
        raise Conflict(f"the template is {template.state.replace('_', ' ')}: nothing to approve")
    if approver_ref == template.created_by:
        raise Forbidden("a template must be approved by someone other than its creator")


def ensure_archivable(template: EmergencyTemplate) -> None:
    """:raises Conflict: if it is archived already."""
    if template.state == "archived":
        raise Conflict("the template is already archived")


def trigger_of(template: EmergencyTemplate, asked: TemplateTrigger) -> TriggerEmergency:
    """The trigger an approved template stands for, with the overrides ``asked`` for.

    :raises Conflict: unless the template is approved (pending or archived).
    """
    if template.state == "pending_approval":
        raise Conflict("the template is not approved yet: a second person must approve it")
    if template.state == "archived":
        raise Conflict("the template is archived: it can no longer be triggered")
    return TriggerEmergency(
        message=template.message,
        severity=template.severity,
        target=asked.target or TargetSpec.of(template.target),
        expires_in_s=template.expires_in_s,
        mode=asked.mode or template.mode,
    )
