-- Webhooks (docs/operations.md, "Webhooks"): a tenant's endpoints, and the outbox their
-- deliveries go out from.
--
-- A use case that makes a notable change (an emergency started or ended, content
-- submitted for approval, ...) writes one webhook_deliveries row per subscribed endpoint
-- in the transaction that makes the change: the notification commits or rolls back with
-- it, and survives any restart. Every node runs a delivery worker that claims due rows
-- (FOR UPDATE SKIP LOCKED, then a lease), posts them, and records the outcome.

CREATE TABLE webhook_endpoints (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id),
    url         text        NOT NULL CHECK (char_length(url) BETWEEN 8 AND 2000),
    events      text[]      NOT NULL
        CHECK (cardinality(events) >= 1 AND array_position(events, NULL) IS NULL),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 200),
    -- The signing key. HMAC needs it in clear at every delivery, so it is stored as is
    -- (like TOTP secrets): a reader of this table can forge this tenant's webhooks.
    secret      text        NOT NULL CHECK (char_length(secret) BETWEEN 32 AND 128),
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    deleted_by  text,
    CONSTRAINT webhook_endpoints_deleted_shape CHECK ((deleted_at IS NULL) = (deleted_by IS NULL))
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, created_at)
    WHERE deleted_at IS NULL;

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhook_endpoints_isolation ON webhook_endpoints
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON webhook_endpoints TO signage_app;

-- One event for one endpoint. `body` is the exact JSON sent (every attempt signs and sends
-- the same bytes); `id` orders an endpoint's deliveries: a worker only ever takes the
-- oldest pending row of an endpoint, so they arrive in the order they were written.
CREATE TABLE webhook_deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       uuid        NOT NULL REFERENCES tenants (id),
    endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints (id),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL CHECK (char_length(event_type) BETWEEN 1 AND 64),
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    state           text        NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Set while a worker holds the row (its attempt is in flight); a worker that dies
    -- leaves it to expire, and the row is tried again.
    leased_until    timestamptz,
    last_attempt_at timestamptz,
    last_status     integer     CHECK (last_status BETWEEN 100 AND 599),
    last_error      text        CHECK (char_length(last_error) <= 300),
    finished_at     timestamptz,
    CONSTRAINT webhook_deliveries_one_per_endpoint UNIQUE (endpoint_id, event_id),
    CONSTRAINT webhook_deliveries_finished_shape CHECK ((state = 'pending') = (finished_at IS NULL))
);
-- The workers' queue: each endpoint's pending rows in order.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (endpoint_id, id)
    WHERE state = 'pending';
-- The delivery log, newest first, and the retention sweep.
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (finished_at)
    WHERE state <> 'pending';

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhook_deliveries_isolation ON webhook_deliveries
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries TO signage_app;

-- Screens that were reported offline and have not been seen since: the "back online"
-- notice is owed to exactly these. A row is inserted by the offline sweep (one node wins
-- the insert) and deleted when the screen connects again.
CREATE TABLE device_offline_notices (
    device_id    uuid        PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    last_seen_at timestamptz NOT NULL,
    noticed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_offline_notices_tenant_idx ON device_offline_notices (tenant_id);

ALTER TABLE device_offline_notices ENABLE ROW LEVEL SECURITY;
CREATE POLICY device_offline_notices_isolation ON device_offline_notices
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, DELETE ON device_offline_notices TO signage_app;

-- Emergencies whose delivery was checked WEBHOOK_DELIVERY_CHECK_S after their start: one
-- row each, so exactly one node reports an incomplete delivery, once.
CREATE TABLE emergency_delivery_checks (
    emergency_id uuid        PRIMARY KEY REFERENCES emergencies (id),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    checked_at   timestamptz NOT NULL DEFAULT now(),
    undelivered  integer     NOT NULL CHECK (undelivered >= 0)
);

ALTER TABLE emergency_delivery_checks ENABLE ROW LEVEL SECURITY;
CREATE POLICY emergency_delivery_checks_isolation ON emergency_delivery_checks
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT ON emergency_delivery_checks TO signage_app;
