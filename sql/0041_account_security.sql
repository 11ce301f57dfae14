-- Account hygiene and a second factor (issue 14, M3 and TOTP). See docs/security.md §3.
--
-- Passwords: an admin reset sets a one-time password that must be changed at the next
-- login and that expires unused. Sessions end on a password change (the others) or reset.
ALTER TABLE users
    ADD COLUMN password_must_change boolean NOT NULL DEFAULT false,
    ADD COLUMN password_expires_at timestamptz,
    ADD CONSTRAINT users_temporary_password_expires
        CHECK (password_expires_at IS NULL OR password_must_change);

ALTER TABLE refresh_families
    DROP CONSTRAINT refresh_families_revoked_reason_check,
    ADD CONSTRAINT refresh_families_revoked_reason_check CHECK (revoked_reason IN
        ('logout', 'reuse', 'user_disabled', 'tenant_suspended', 'password_change',
         'password_reset'));

-- TOTP (RFC 6238). The shared secret must be readable to check codes, so it is stored as
-- is: a reader of this table holds second factors, as a reader of `users` holds password
-- hashes. last_step is the newest time step accepted: a code is never accepted twice.
CREATE TABLE user_totp (
    user_id      uuid        PRIMARY KEY REFERENCES users (id),
    tenant_id    uuid        REFERENCES tenants (id),
    secret       text        NOT NULL CHECK (secret ~ '^[A-Z2-7]{32}$'),
    confirmed_at timestamptz,
    last_step    bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE user_totp ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_totp_isolation ON user_totp
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON user_totp TO signage_app;

-- One-time recovery codes: SHA-256 of 80 random bits each, spent once.
CREATE TABLE user_recovery_codes (
    id        uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id   uuid        NOT NULL REFERENCES users (id),
    tenant_id uuid        REFERENCES tenants (id),
    code_hash bytea       NOT NULL CHECK (octet_length(code_hash) = 32),
    used_at   timestamptz,
    CONSTRAINT user_recovery_codes_key UNIQUE (user_id, code_hash)
);
ALTER TABLE user_recovery_codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_recovery_codes_isolation ON user_recovery_codes
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON user_recovery_codes TO signage_app;

-- The short-lived proof that a login's password step passed, redeemed with a code.
CREATE TABLE login_challenges (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id),
    tenant_id  uuid        REFERENCES tenants (id),
    token_hash bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    expires_at timestamptz NOT NULL,
    failures   integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT login_challenges_hash_key UNIQUE (token_hash)
);
CREATE INDEX login_challenges_user_idx ON login_challenges (user_id);
ALTER TABLE login_challenges ENABLE ROW LEVEL SECURITY;
CREATE POLICY login_challenges_isolation ON login_challenges
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON login_challenges TO signage_app;

-- Roles whose users must have a second factor, per tenant (the platform's policy is the
-- MFA_REQUIRED_ROLES setting).
CREATE TABLE tenant_mfa_policies (
    tenant_id      uuid        PRIMARY KEY REFERENCES tenants (id),
    required_roles text[]      NOT NULL CHECK (array_position(required_roles, NULL) IS NULL),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenant_mfa_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_mfa_policies_isolation ON tenant_mfa_policies
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON tenant_mfa_policies TO signage_app;

-- The second login step runs before its tenant is known, like the first: this owner-run
-- lookup returns the one challenge with that exact digest (see auth_login_candidate).
CREATE FUNCTION auth_login_challenge_owner(p_token_hash bytea)
    RETURNS TABLE (challenge_id uuid, user_id uuid, tenant_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT c.id, c.user_id, c.tenant_id FROM public.login_challenges c
        WHERE c.token_hash = p_token_hash
    $$;
REVOKE ALL ON FUNCTION auth_login_challenge_owner(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_login_challenge_owner(bytea) TO signage_app;
