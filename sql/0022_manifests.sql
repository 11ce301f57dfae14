-- Device manifests: what each screen plays now and over the next hours (docs/content.md).
--
-- manifest_documents  one row per distinct document of a tenant, keyed by its SHA-256
--                     (canonical JSON, actors/domain/manifest_plan.py): screens that play
--                     the same thing share one row.
-- device_manifests    each device's current document, its version and what it acked.
--                     The version only moves when the document's hash changes; every
--                     device changed by one recomputation gets the same new version (the
--                     tenant's counter), so screens sharing a document share one frame.
-- manifest_state      per tenant: the version counter (its row lock serialises the
--                     tenant's recomputations on every node) and the lease under which a
--                     node advances the tenant's horizon.

CREATE TABLE manifest_state (
    tenant_id     uuid        PRIMARY KEY REFERENCES tenants (id),
    version       bigint      NOT NULL DEFAULT 0 CHECK (version >= 0),
    recomputed_at timestamptz,
    lease_until   timestamptz
);

CREATE TABLE manifest_documents (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    document  text NOT NULL,
    PRIMARY KEY (tenant_id, hash)
);

CREATE TABLE device_manifests (
    tenant_id     uuid        NOT NULL,
    device_id     uuid        NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    version       bigint      NOT NULL CHECK (version >= 1),
    hash          text        NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL CHECK (ends_at > starts_at),
    computed_at   timestamptz NOT NULL,
    acked_version bigint      CHECK (acked_version >= 1),
    acked_at      timestamptz,
    PRIMARY KEY (tenant_id, device_id),
    FOREIGN KEY (tenant_id, hash) REFERENCES manifest_documents (tenant_id, hash)
);
CREATE INDEX device_manifests_hash_idx ON device_manifests (tenant_id, hash);
-- The horizon scan: which tenants have manifests planned from an earlier start.
CREATE INDEX device_manifests_starts_idx ON device_manifests (starts_at, tenant_id);

-- Tenant scope for everything a tenant's recomputation and its screens need; platform
-- scope for the cross-tenant horizon scan and the batched acknowledgement writes.
ALTER TABLE manifest_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY manifest_state_isolation ON manifest_state
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON manifest_state TO signage_app;

ALTER TABLE manifest_documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY manifest_documents_isolation ON manifest_documents
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, DELETE ON manifest_documents TO signage_app;

ALTER TABLE device_manifests ENABLE ROW LEVEL SECURITY;
CREATE POLICY device_manifests_isolation ON device_manifests
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON device_manifests TO signage_app;
