-- Single sign-on (OpenID Connect, authorization code + PKCE): one identity provider per
-- tenant and one for the platform (tenant_id NULL), the sign-ins in flight, and which
-- provider subject is which user (docs/operations.md, "SSO").

-- The provider, configured by a tenant_admin (or a platform_admin for the platform). The
-- client secret is sealed by the application (AES-256-GCM, key from SSO_SECRET_KEY) and
-- never leaves it: no read answers it. role_mapping is data: [{"value","roles"}], each
-- value of the ID token's role_claim granting those roles.
CREATE TABLE sso_providers (
    id                   uuid        PRIMARY KEY,
    tenant_id            uuid        REFERENCES tenants (id),
    issuer               text        NOT NULL CHECK (char_length(issuer) BETWEEN 8 AND 500),
    client_id            text        NOT NULL CHECK (char_length(client_id) BETWEEN 1 AND 500),
    client_secret_sealed bytea       CHECK (octet_length(client_secret_sealed) <= 2048),
    redirect_uri         text        NOT NULL CHECK (char_length(redirect_uri) BETWEEN 8 AND 2000),
    scopes               text[]      NOT NULL CHECK ('openid' = ANY (scopes)),
    allowed_domains      text[]      NOT NULL CHECK (cardinality(allowed_domains) >= 1),
    role_claim           text        NOT NULL CHECK (char_length(role_claim) BETWEEN 1 AND 100),
    role_mapping         jsonb       NOT NULL CHECK (jsonb_typeof(role_mapping) = 'array'),
    default_roles        text[]      NOT NULL,
    -- ID-token signature algorithms accepted: asymmetric ones only (never none or HS*).
    algorithms           text[]      NOT NULL CHECK (cardinality(algorithms) >= 1
        AND algorithms <@ ARRAY['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
                                'ES256', 'ES384', 'ES512', 'EdDSA']),
    -- false: the tenant's users may not log in with a password (SSO only). The platform
    -- always keeps password login: it is the way back in when the provider is down.
    password_login       boolean     NOT NULL DEFAULT true
        CHECK (tenant_id IS NOT NULL OR password_login),
    enabled              boolean     NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    updated_by           text        NOT NULL
);
-- One provider per tenant, one for the platform.
CREATE UNIQUE INDEX sso_providers_scope_key ON sso_providers
    ((coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)));

ALTER TABLE sso_providers ENABLE ROW LEVEL SECURITY;
CREATE POLICY sso_providers_isolation ON sso_providers
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON sso_providers TO signage_app;

-- A sign-in in flight: created by .../sso/start, spent (deleted) by the one callback that
-- presents its state. Only the state's SHA-256 is kept; the nonce and the PKCE verifier
-- never reach the browser. Rows live minutes (expires_at); expired ones are purged.
CREATE TABLE sso_login_states (
    state_hash    bytea       PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    tenant_id     uuid        REFERENCES tenants (id),
    provider_id   uuid        NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    nonce         text        NOT NULL CHECK (char_length(nonce) BETWEEN 32 AND 128),
    code_verifier text        NOT NULL CHECK (char_length(code_verifier) BETWEEN 43 AND 128),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sso_login_states_expiry_idx ON sso_login_states (tenant_id, expires_at);
CREATE INDEX sso_login_states_provider_idx ON sso_login_states (provider_id);

ALTER TABLE sso_login_states ENABLE ROW LEVEL SECURITY;
CREATE POLICY sso_login_states_isolation ON sso_login_states
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, DELETE ON sso_login_states TO signage_app;

-- Which user a provider's subject is. Keyed by (issuer, sub), the only stable identity an
-- OIDC provider promises (an email may change hands); a user has at most one.
CREATE TABLE sso_identities (
    user_id      uuid        PRIMARY KEY REFERENCES users (id),
    tenant_id    uuid        REFERENCES tenants (id),
    provider_id  uuid        NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    issuer       text        NOT NULL,
    subject      text        NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 255),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sso_identities_subject_key UNIQUE (provider_id, issuer, subject)
);

ALTER TABLE sso_identities ENABLE ROW LEVEL SECURITY;
CREATE POLICY sso_identities_isolation ON sso_identities
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON sso_identities TO signage_app;
