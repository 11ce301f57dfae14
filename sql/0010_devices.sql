-- Devices: self-registered screens, claimed into a tenant by a device manager.
--
-- A registration is a row with tenant_id NULL and status 'pending': it belongs to no tenant
-- yet, so row-level security shows it only in platform scope (registration, the secret
-- lookup of a connecting screen, and the claim, which moves it into the claiming tenant).
-- Secrets are stored as SHA-256 digests only (full-entropy secrets; see
-- actors/domain/device_secret.py). Pairing codes are single use: cleared on claim.

CREATE TABLE devices (
    id                 uuid        PRIMARY KEY,
    tenant_id          uuid        REFERENCES tenants (id),
    status             text        NOT NULL DEFAULT 'pending'
                                   CHECK (status IN ('pending', 'approved', 'revoked')),
    secret_hash        bytea       NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    hardware_id        text        NOT NULL CHECK (length(hardware_id) BETWEEN 1 AND 128),
    model              text        CHECK (length(model) <= 128),
    app_version        text        CHECK (length(app_version) <= 64),
    registered_from    text        NOT NULL,
    pairing_code       text        UNIQUE CHECK (pairing_code ~ '^[BCDFGHJKLMNPQRSTVWXZ]{8}$'),
    pairing_expires_at timestamptz,
    name               text        CHECK (length(name) BETWEEN 1 AND 200),
    groups             text[]      NOT NULL DEFAULT '{}',
    timezone           text        NOT NULL DEFAULT 'UTC',
    created_at         timestamptz NOT NULL DEFAULT now(),
    claimed_at         timestamptz,
    claimed_by         uuid,
    revoked_at         timestamptz,
    secret_rotated_at  timestamptz,
    last_seen_at       timestamptz,
    last_node          text,
    -- A pending device has a live pairing code and no tenant; a claimed one the reverse.
    CONSTRAINT devices_pending_shape CHECK (
        (status = 'pending' AND tenant_id IS NULL AND pairing_code IS NOT NULL)
        OR (status <> 'pending' AND tenant_id IS NOT NULL AND pairing_code IS NULL)
    )
);

CREATE INDEX devices_tenant_idx ON devices (tenant_id, name);
CREATE INDEX devices_pending_expiry_idx ON devices (pairing_expires_at) WHERE status = 'pending';
CREATE INDEX devices_registered_from_idx ON devices (registered_from) WHERE status = 'pending';
CREATE INDEX devices_groups_idx ON devices USING gin (groups);

ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
-- Tenant scope: that tenant's claimed devices. Pending registrations (tenant_id NULL)
-- are visible in platform scope only.
CREATE POLICY devices_isolation ON devices
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON devices TO signage_app;
