-- Device registration and claim limits (issue 14, L5 and L6).
--
-- Pending registrations are counted per source prefix (an IPv4 address, an IPv6 /64: one
-- subscriber holds a whole /64), not per full address; `registered_from` keeps the
-- address itself for the record. Rows from before this migration count under their
-- address, which is what they were counted under when they were made.
ALTER TABLE devices ADD COLUMN registered_prefix text CHECK (char_length(registered_prefix) <= 64);
UPDATE devices SET registered_prefix = registered_from WHERE status = 'pending';
CREATE INDEX devices_registered_prefix_idx ON devices (registered_prefix)
    WHERE status = 'pending';
DROP INDEX devices_registered_from_idx;

-- Failed pairing-code claims, counted per tenant on every node (one row per tenant that
-- has failed recently). Successful claims are never counted. Past the free budget each
-- failure blocks the tenant's claims for a doubling time (actors/domain/throttle.py).
-- `audited_at`/`unaudited` rate-limit the `device.claim_failed` audit entries: at most one
-- per tenant per CLAIM_AUDIT_EVERY_S, each naming how many failures it stands for.
CREATE TABLE claim_failures (
    tenant_id        uuid        PRIMARY KEY REFERENCES tenants (id),
    failures         integer     NOT NULL CHECK (failures >= 1),
    first_failure_at timestamptz NOT NULL,
    last_failure_at  timestamptz NOT NULL,
    blocked_until    timestamptz,
    audited_at       timestamptz,
    unaudited        integer     NOT NULL DEFAULT 0 CHECK (unaudited >= 0)
);

ALTER TABLE claim_failures ENABLE ROW LEVEL SECURITY;
CREATE POLICY claim_failures_isolation ON claim_failures
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON claim_failures TO signage_app;
