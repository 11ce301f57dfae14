-- Tenants, admin users, refresh-token sessions, login throttling and the audit trail.
--
-- Row-level security is the second wall behind the explicit tenant filter in every query.
-- Each transaction states its scope (store/db.py):
--   app.scope = 'tenant'    + app.tenant_id = <uuid>  -> that tenant's rows only
--   app.scope = 'platform'                             -> every row (platform use cases)
--   app.scope = 'anonymous' (or nothing set at all)    -> no tenant-owned row at all
-- Pre-authentication paths (login, refresh, logout) reach the one row they need through
-- the SECURITY DEFINER functions at the end of this file. See docs/security.md.

-- Scope helpers. Plain SQL and STABLE, so the planner inlines them into policies and
-- still uses indexes. A malformed app.tenant_id makes the cast fail: closed, not open.
CREATE FUNCTION app_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE FUNCTION app_is_platform() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.scope', true), '') = 'platform' $$;

-- Tenants --------------------------------------------------------------------------------
CREATE TABLE tenants (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    slug       text        NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    status     text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
-- A tenant-scope transaction sees its own tenant row (status checks); only the platform
-- scope creates or changes tenants.
CREATE POLICY tenants_select ON tenants FOR SELECT
    USING (app_is_platform() OR id = app_tenant_id());
CREATE POLICY tenants_insert ON tenants FOR INSERT
    WITH CHECK (app_is_platform());
CREATE POLICY tenants_update ON tenants FOR UPDATE
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE ON tenants TO signage_app;

-- Users ----------------------------------------------------------------------------------
-- tenant_id NULL: a platform user. Roles live on the row so that one CHECK ties them to the
-- user's scope (platform roles only for platform users, tenant roles only for tenant users);
-- every change of them is in the audit trail with before/after.
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        REFERENCES tenants (id),
    email         text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    password_hash text        NOT NULL,
    roles         text[]      NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_roles_match_scope CHECK (
        array_position(roles, NULL) IS NULL
        AND CASE WHEN tenant_id IS NULL
            THEN roles <@ ARRAY['platform_admin', 'platform_operator']
            ELSE roles <@ ARRAY['tenant_admin', 'editor', 'approver', 'scheduler',
                                'emergency_operator', 'device_manager', 'auditor', 'viewer']
        END
    )
);
CREATE INDEX users_tenant_idx ON users (tenant_id, email);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
-- Tenant scope never sees platform users (tenant_id NULL never equals anything).
CREATE POLICY users_isolation ON users
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON users TO signage_app;

-- Refresh-token families (one per login: the "session") and their tokens ------------------
CREATE TABLE refresh_families (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid        NOT NULL REFERENCES users (id),
    tenant_id      uuid        REFERENCES tenants (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN
        ('logout', 'reuse', 'user_disabled', 'tenant_suspended')),
    source_ip      text,
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX refresh_families_user_live_idx ON refresh_families (user_id)
    WHERE revoked_at IS NULL;
CREATE INDEX refresh_families_tenant_live_idx ON refresh_families (tenant_id)
    WHERE revoked_at IS NULL;

ALTER TABLE refresh_families ENABLE ROW LEVEL SECURITY;
CREATE POLICY refresh_families_isolation ON refresh_families
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON refresh_families TO signage_app;

-- Only SHA-256 digests of the (256-bit random) tokens are stored. A spent token's row is
-- kept until it expires: presenting it again is how reuse is detected.
CREATE TABLE refresh_tokens (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id  uuid        NOT NULL REFERENCES refresh_families (id),
    tenant_id  uuid        REFERENCES tenants (id),
    token_hash bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry_idx ON refresh_tokens (expires_at);

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_isolation ON refresh_tokens
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON refresh_tokens TO signage_app;

-- Login throttling -----------------------------------------------------------------------
-- Not tenant-owned: keys are 'account:<sha256 of the normalised email>' and
-- 'address:<ip or IPv6 /64>', known before any tenant is. Only failures are counted.
CREATE TABLE login_throttle (
    key              text        PRIMARY KEY CHECK (char_length(key) <= 200),
    failures         integer     NOT NULL CHECK (failures >= 1),
    first_failure_at timestamptz NOT NULL,
    last_failure_at  timestamptz NOT NULL,
    blocked_until    timestamptz
);
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO signage_app;

-- Audit trail ----------------------------------------------------------------------------
-- One SHA-256 hash chain per tenant (tenant_id) and one for the platform (tenant_id NULL).
-- `details` holds the canonical JSON text that was hashed, byte for byte, so verification
-- never depends on how jsonb would re-render it. The hashed bytes are documented in
-- docs/security.md and computed by actors/domain/audit.py.
CREATE TABLE audit_log (
    id         uuid        PRIMARY KEY,
    tenant_id  uuid        REFERENCES tenants (id),
    seq        bigint      NOT NULL CHECK (seq >= 1),
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    actor_name text,
    action     text        NOT NULL,
    target     text        NOT NULL,
    details    text        NOT NULL CHECK (jsonb_typeof(details::jsonb) = 'object'),
    request_id text,
    source_ip  text,
    prev_hash  text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash       text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    -- The chain cannot fork even if a writer skipped the append lock.
    CONSTRAINT audit_log_chain_seq_key UNIQUE NULLS NOT DISTINCT (tenant_id, seq)
);
CREATE INDEX audit_log_chain_at_idx ON audit_log (tenant_id, at);
CREATE INDEX audit_log_chain_action_idx ON audit_log (tenant_id, action, seq);

-- Append-only, enforced by the database for everyone but a superuser who disables triggers
-- (which is what the hash chain is for). Statement-level, so they fire even on zero rows.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_select ON audit_log FOR SELECT
    USING (app_is_platform() OR tenant_id = app_tenant_id());
CREATE POLICY audit_log_insert ON audit_log FOR INSERT
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT ON audit_log TO signage_app;

-- Pre-authentication lookups -------------------------------------------------------------
-- Login and refresh happen before the caller's tenant is known. Instead of a platform-scope
-- transaction (which would see every row), these owner-run functions return the few
-- columns of the single row that matches an exact key; everything after that runs in the
-- owner's own tenant scope. search_path is pinned so callers cannot shadow objects.
CREATE FUNCTION auth_login_candidate(p_email text)
    RETURNS TABLE (user_id uuid, tenant_id uuid, password_hash text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT u.id, u.tenant_id, u.password_hash FROM public.users u WHERE u.email = p_email
    $$;
REVOKE ALL ON FUNCTION auth_login_candidate(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_login_candidate(text) TO signage_app;

CREATE FUNCTION auth_refresh_token_owner(p_token_hash bytea)
    RETURNS TABLE (token_id uuid, family_id uuid, user_id uuid, tenant_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT t.id, t.family_id, f.user_id, t.tenant_id
        FROM public.refresh_tokens t JOIN public.refresh_families f ON f.id = t.family_id
        WHERE t.token_hash = p_token_hash
    $$;
REVOKE ALL ON FUNCTION auth_refresh_token_owner(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_refresh_token_owner(bytea) TO signage_app;
