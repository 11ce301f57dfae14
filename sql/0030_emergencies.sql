-- Emergencies: the broadcast record, its per-tenant sequence, the outbox nodes catch up
-- from, and the screens' acknowledgements (docs/emergencies.md).
--
-- Every change of an emergency (started, cleared, expired) takes the tenant's next
-- sequence number from emergency_sequences and writes one emergency_events row with it,
-- in the transaction that makes the change. The counter row stays locked until that
-- transaction ends, so a tenant's numbers are gapless and commit in order: a node that
-- has applied every event up to N and sees N+2 knows that it missed N+1, and reads it
-- here. Redis only makes delivery fast; this table makes it certain.

-- The tenant's last emergency sequence number (0: none yet). One row per tenant that ever
-- had an emergency; its row lock serialises the tenant's emergency writers.
CREATE TABLE emergency_sequences (
    tenant_id uuid   PRIMARY KEY REFERENCES tenants (id),
    last_seq  bigint NOT NULL CHECK (last_seq >= 1)
);

ALTER TABLE emergency_sequences ENABLE ROW LEVEL SECURITY;
CREATE POLICY emergency_sequences_isolation ON emergency_sequences
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON emergency_sequences TO signage_app;

-- One emergency of one tenant. A platform-wide broadcast is one row per tenant sharing a
-- broadcast_id. The target is stored as given: everyone, or groups, or device ids.
-- `targeted` is how many approved devices matched when it started.
CREATE TABLE emergencies (
    id             uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL REFERENCES tenants (id),
    seq            bigint      NOT NULL CHECK (seq >= 1),
    message        text        NOT NULL CHECK (char_length(message) BETWEEN 1 AND 1000),
    severity       text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    target_all     boolean     NOT NULL,
    target_groups  text[]      NOT NULL DEFAULT '{}',
    target_devices uuid[]      NOT NULL DEFAULT '{}',
    targeted       integer     NOT NULL CHECK (targeted >= 0),
    started_at     timestamptz NOT NULL,
    expires_at     timestamptz CHECK (expires_at > started_at),
    started_by     text        NOT NULL,
    broadcast_id   uuid,
    ended_at       timestamptz,
    ended_seq      bigint,
    end_reason     text        CHECK (end_reason IN ('cleared', 'expired')),
    ended_by       text,
    CONSTRAINT emergencies_tenant_seq_key UNIQUE (tenant_id, seq),
    -- Exactly one kind of target.
    CONSTRAINT emergencies_one_target CHECK (
        (target_all AND target_groups = '{}' AND target_devices = '{}')
        OR (NOT target_all AND target_groups <> '{}' AND target_devices = '{}')
        OR (NOT target_all AND target_groups = '{}' AND target_devices <> '{}')
    ),
    -- Ended means all four end columns are set, and the end came after the start.
    CONSTRAINT emergencies_end_shape CHECK (
        (ended_at IS NULL AND ended_seq IS NULL AND end_reason IS NULL AND ended_by IS NULL)
        OR (ended_at IS NOT NULL AND ended_seq > seq AND end_reason IS NOT NULL
            AND ended_by IS NOT NULL)
    )
);
CREATE INDEX emergencies_tenant_started_idx ON emergencies (tenant_id, started_at DESC);
CREATE INDEX emergencies_active_idx ON emergencies (tenant_id, seq) WHERE ended_at IS NULL;
CREATE INDEX emergencies_expiry_idx ON emergencies (expires_at)
    WHERE ended_at IS NULL AND expires_at IS NOT NULL;
CREATE INDEX emergencies_broadcast_idx ON emergencies (broadcast_id)
    WHERE broadcast_id IS NOT NULL;

-- What was broadcast is evidence: after the insert only the end may be recorded, once.
CREATE FUNCTION emergencies_only_end() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF OLD.ended_at IS NOT NULL THEN
        RAISE EXCEPTION 'emergency % has ended: it cannot change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.id, NEW.tenant_id, NEW.seq, NEW.message, NEW.severity, NEW.target_all,
        NEW.target_groups, NEW.target_devices, NEW.targeted, NEW.started_at, NEW.expires_at,
        NEW.started_by, NEW.broadcast_id)
       IS DISTINCT FROM
       (OLD.id, OLD.tenant_id, OLD.seq, OLD.message, OLD.severity, OLD.target_all,
        OLD.target_groups, OLD.target_devices, OLD.targeted, OLD.started_at, OLD.expires_at,
        OLD.started_by, OLD.broadcast_id) THEN
        RAISE EXCEPTION 'emergency %: only its end may be recorded', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER emergencies_only_end BEFORE UPDATE ON emergencies
    FOR EACH ROW EXECUTE FUNCTION emergencies_only_end();

ALTER TABLE emergencies ENABLE ROW LEVEL SECURITY;
CREATE POLICY emergencies_isolation ON emergencies
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON emergencies TO signage_app;

-- The outbox: one row per sequence number, in the transaction that took it. Nodes read it
-- to catch up after a relay gap; it is never updated.
CREATE TABLE emergency_events (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    seq          bigint      NOT NULL CHECK (seq >= 1),
    emergency_id uuid        NOT NULL REFERENCES emergencies (id),
    kind         text        NOT NULL CHECK (kind IN ('started', 'cleared', 'expired')),
    at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX emergency_events_emergency_idx ON emergency_events (emergency_id);

ALTER TABLE emergency_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY emergency_events_isolation ON emergency_events
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT ON emergency_events TO signage_app;

-- A screen's acknowledgement: the first one counts (written in batches by each node).
CREATE TABLE emergency_acks (
    emergency_id uuid        NOT NULL REFERENCES emergencies (id),
    device_id    uuid        NOT NULL REFERENCES devices (id),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    acked_at     timestamptz NOT NULL,
    node_id      text        NOT NULL CHECK (char_length(node_id) BETWEEN 1 AND 200),
    PRIMARY KEY (emergency_id, device_id)
);

ALTER TABLE emergency_acks ENABLE ROW LEVEL SECURITY;
CREATE POLICY emergency_acks_isolation ON emergency_acks
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT ON emergency_acks TO signage_app;
