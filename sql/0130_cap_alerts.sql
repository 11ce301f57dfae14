-- CAP 1.2 ingest (docs/emergencies.md, "CAP 1.2"): the messages a tenant received, and
-- how its alerts' areas map to its device groups.
--
-- cap_alerts is the idempotency key and the thread of an alert: the primary key
-- (tenant_id, sender, identifier) makes a message that arrives twice act once (the
-- ingest inserts its row ON CONFLICT DO NOTHING in the transaction that starts or ends
-- the emergency). An Update or Cancel joins the thread of the messages it references, so
-- a Cancel finds the emergency of the latest Update even when it names only the first
-- Alert. Rows are evidence like emergencies: never updated, never deleted.
CREATE TABLE cap_alerts (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    sender       text        NOT NULL CHECK (char_length(sender) BETWEEN 1 AND 500),
    identifier   text        NOT NULL CHECK (char_length(identifier) BETWEEN 1 AND 500),
    sent         timestamptz NOT NULL,
    status       text        NOT NULL CHECK (status IN ('Actual', 'Exercise', 'Test')),
    msg_type     text        NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    thread_id    uuid        NOT NULL,
    -- The emergency this message started (Alert, Update), or ended (a Cancel, or an Update
    -- that no longer applies to this tenant); NULL: a Cancel of a thread that never showed.
    -- Inserted before the emergency in the same transaction (the row is the duplicate
    -- check), hence checked at commit.
    emergency_id uuid        REFERENCES emergencies (id) DEFERRABLE INITIALLY DEFERRED,
    received_by  text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sender, identifier)
);
CREATE INDEX cap_alerts_thread_idx ON cap_alerts (tenant_id, thread_id);
CREATE INDEX cap_alerts_emergency_idx ON cap_alerts (emergency_id) WHERE emergency_id IS NOT NULL;

ALTER TABLE cap_alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY cap_alerts_isolation ON cap_alerts
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT ON cap_alerts TO signage_app;

-- A tenant's CAP settings: its area mapping (a JSON array of {area_desc | geocode,
-- groups}, validated by the API) and what an alert with only unmapped areas does. No row:
-- no mapping, every alert targets every screen.
CREATE TABLE cap_settings (
    tenant_id  uuid        PRIMARY KEY REFERENCES tenants (id),
    areas      jsonb       NOT NULL CHECK (jsonb_typeof(areas) = 'array'),
    unmatched  text        NOT NULL CHECK (unmatched IN ('all', 'ignore')),
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE cap_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY cap_settings_isolation ON cap_settings
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON cap_settings TO signage_app;
