-- Fleet health and remote commands (docs/devices.md, "Status" and "Commands").
--
-- device_health holds the latest status each screen reported in its heartbeats, one row
-- per device, written by the node holding its session in batches (never a write per
-- heartbeat). It is what the screen *says*: nothing in it changes the device's record.
--
-- device_commands holds the remote commands device managers sent (reload, reboot, ...),
-- with the screen's answer. A command is 'sent' until the screen answers or it expires;
-- 'expired' is not stored: it is a 'sent' command past expires_at.
--
-- Deleting a device deletes its health, its commands and its emergency acknowledgements
-- (delivery reports only ever count the devices that exist; the audit chain keeps the
-- deletion with the device's last record).

CREATE TABLE device_health (
    device_id          uuid        PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    tenant_id          uuid        NOT NULL REFERENCES tenants (id),
    reported_at        timestamptz NOT NULL,
    node_id            text        NOT NULL CHECK (char_length(node_id) BETWEEN 1 AND 200),
    app_version        text        CHECK (char_length(app_version) <= 64),
    uptime_s           double precision CHECK (uptime_s >= 0),
    display_on         boolean,
    free_storage_bytes bigint      CHECK (free_storage_bytes >= 0),
    last_error         text        CHECK (char_length(last_error) <= 500),
    playing            text        CHECK (char_length(playing) <= 200),
    manifest_version   bigint      CHECK (manifest_version >= 0)
);
CREATE INDEX device_health_tenant_idx ON device_health (tenant_id);

ALTER TABLE device_health ENABLE ROW LEVEL SECURITY;
CREATE POLICY device_health_isolation ON device_health
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON device_health TO signage_app;

CREATE TABLE device_commands (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id),
    device_id     uuid        NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name          text        NOT NULL
        CHECK (name IN ('reload', 'reboot', 'clear_cache', 'identify')),
    state         text        NOT NULL DEFAULT 'sent'
        CHECK (state IN ('sent', 'ok', 'failed', 'unsupported')),
    detail        text        CHECK (char_length(detail) <= 200),
    issued_by     text        NOT NULL,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    answered_at   timestamptz,
    answered_node text        CHECK (char_length(answered_node) BETWEEN 1 AND 200),
    CONSTRAINT device_commands_expiry CHECK (expires_at > issued_at),
    CONSTRAINT device_commands_answer_shape CHECK (
        (state = 'sent' AND answered_at IS NULL AND answered_node IS NULL AND detail IS NULL)
        OR (state <> 'sent' AND answered_at IS NOT NULL AND answered_node IS NOT NULL)
    )
);
CREATE INDEX device_commands_device_idx ON device_commands (tenant_id, device_id, issued_at DESC);

ALTER TABLE device_commands ENABLE ROW LEVEL SECURITY;
CREATE POLICY device_commands_isolation ON device_commands
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON device_commands TO signage_app;

-- A deleted device's acknowledgements go with it (see above).
ALTER TABLE emergency_acks DROP CONSTRAINT emergency_acks_device_id_fkey,
    ADD CONSTRAINT emergency_acks_device_id_fkey
        FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE;

-- The numeric part of an app version as a sortable array: '2.10.1-beta' -> {2,10,1},
-- 'v1.2.0' -> {1,2} (trailing zeros dropped, so 1.2 = 1.2.0), NULL without a leading
-- number. Arrays compare element by element, so {1,10} > {1,9}: the device list's
-- "app version below" filter compares these. A pre-release suffix is ignored.
CREATE FUNCTION app_version_key(version text) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$
    SELECT CASE WHEN m IS NULL THEN NULL
                ELSE string_to_array(regexp_replace(m, '(\.0+)+$', ''), '.')::integer[]
           END
    FROM (SELECT substring(version FROM '^[vV]?([0-9]{1,9}(?:\.[0-9]{1,9}){0,7})') AS m) AS s
$$;
