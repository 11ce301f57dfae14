"""Emergency template rules: four eyes, what triggers, and a template is a trigger's body."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import pytest

from actors.domain.emergencies import TriggerEmergency
from actors.domain.emergency_templates import (
    CreateTemplate,
    EmergencyTemplate,
    TemplateState,
    TemplateTrigger,
    TriggerRequest,
    ensure_approvable,
    ensure_archivable,
    ensure_author,
    trigger_of,
)
from actors.domain.targets import EVERYONE, GroupTarget, TargetSpec
from actors.errors import Conflict, Forbidden, Invalid

CREATOR = "user:00000000-0000-4000-8000-000000000001"
OTHER = "user:00000000-0000-4000-8000-000000000002"


def template(state: TemplateState = "pending_approval", **kw: object) -> EmergencyTemplate:
    fields: dict[str, object] = {
        "id": uuid4(),
        "tenant_id": uuid4(),
        "name": "Evacuate",
        "message": "Leave now",
        "severity": "critical",
        "target": EVERYONE,
        "expires_in_s": 600,
        "mode": "live",
        "state": state,
        "created_by": CREATOR,
        "created_at": datetime.now(UTC),
        **kw,
    }
    return msgspec.convert(fields, EmergencyTemplate, from_attributes=True)


def test_another_person_approves_a_pending_template() -> None:
    ensure_approvable(template(), OTHER, is_person=True)


def test_its_creator_cannot_approve_it() -> None:
    with pytest.raises(Forbidden, match="other than its creator"):
        ensure_approvable(template(), CREATOR, is_person=True)


def test_an_integration_cannot_approve_or_write() -> None:
    with pytest.raises(Forbidden, match="integration"):
        ensure_approvable(template(), OTHER, is_person=False)
    with pytest.raises(Forbidden, match="integration"):
        ensure_author(is_person=False)
    ensure_author(is_person=True)


@pytest.mark.parametrize("state", ["approved", "archived"])
def test_only_a_pending_template_is_approved(state: TemplateState) -> None:
    with pytest.raises(Conflict):
        ensure_approvable(template(state), OTHER, is_person=True)


def test_archived_is_final() -> None:
    ensure_archivable(template("pending_approval"))
    ensure_archivable(template("approved"))
    with pytest.raises(Conflict):
        ensure_archivable(template("archived"))


@pytest.mark.parametrize("state", ["pending_approval", "archived"])
def test_only_an_approved_template_triggers(state: TemplateState) -> None:
    with pytest.raises(Conflict):
        trigger_of(template(state), TemplateTrigger(uuid4()))


def test_a_trigger_is_the_template_with_only_audience_and_mode_changed() -> None:
    t = template("approved")
    assert trigger_of(t, TemplateTrigger(t.id)) == TriggerEmergency(
        message="Leave now",
        severity="critical",
        target=TargetSpec(all=True),
        expires_in_s=600,
        mode="live",
    )
    changed = trigger_of(t, TemplateTrigger(t.id, target=TargetSpec(groups=["hall"]), mode="drill"))
    assert changed.target.resolve() == GroupTarget(frozenset({"hall"}))
    assert (changed.message, changed.severity, changed.expires_in_s, changed.mode) == (
        "Leave now",
        "critical",
        600,
        "drill",
    )


def test_a_template_body_is_a_trigger_body_with_a_name() -> None:
    body = b'{"name":"E","message":"Go","severity":"info","target":{"all":true},"mode":"drill"}'
    created = msgspec.json.decode(body, type=CreateTemplate)
    assert isinstance(created, TriggerEmergency)
    trigger_fields = {f.name for f in msgspec.structs.fields(TriggerEmergency)}
    template_fields = {f.name for f in msgspec.structs.fields(CreateTemplate)}
    assert template_fields == trigger_fields | {"name"}


def test_a_request_is_a_full_trigger_or_a_template_trigger() -> None:
    template_id = uuid4()
    assert TriggerRequest(template_id=template_id).resolve() == TemplateTrigger(template_id)
    full = TriggerRequest(message="Go", severity="info", target=TargetSpec(all=True)).resolve()
    assert isinstance(full, TriggerEmergency)
    assert full.mode == "live"
    with pytest.raises(Invalid) as refused:
        TriggerRequest(template_id=template_id, message="Other").resolve()
    assert refused.value.field == "message"
    with pytest.raises(Invalid) as refused:
        TriggerRequest(message="Go", target=TargetSpec(all=True)).resolve()
    assert refused.value.field == "severity"
