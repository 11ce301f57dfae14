-- Integration credentials (service accounts): a tenant's alerting systems and scripts
-- authenticate with a bearer token of their own, never with a person's password
-- (docs/security.md, "Integration credentials").
--
-- The token has full entropy (256 random bits), so only its SHA-256 is stored: a slow hash
-- would add nothing, and the digest is what the per-request lookup finds by index. A
-- revoked row stays (audit entries and emergencies name it) and never authenticates again.
CREATE TABLE integrations (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    roles        text[]      NOT NULL
        CHECK (cardinality(roles) >= 1 AND array_position(roles, NULL) IS NULL)
        -- Never a platform role, whatever the code above says.
        CHECK (NOT roles && ARRAY['platform_admin', 'platform_operator']),
    token_hash   bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    -- The token's last characters, so an admin can tell which one leaked (not a secret:
    -- the rest keeps more than 200 bits).
    token_hint   text        NOT NULL CHECK (char_length(token_hint) BETWEEN 1 AND 8),
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Updated at most once a minute by the lookup below (not a write per request).
    last_used_at timestamptz,
    revoked_at   timestamptz,
    revoked_by   text,
    CONSTRAINT integrations_revoked_shape CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
-- Live names are unique per tenant; a revoked credential's name may be reused.
CREATE UNIQUE INDEX integrations_live_name_key ON integrations (tenant_id, name)
    WHERE revoked_at IS NULL;

ALTER TABLE integrations ENABLE ROW LEVEL SECURITY;
CREATE POLICY integrations_isolation ON integrations
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON integrations TO signage_app;

-- A presented token runs before its tenant is known, like a login: this owner-run lookup
-- returns the one credential with that exact digest and whether it may act now (not
-- revoked, its tenant active), and notes its use at most once a minute.
CREATE FUNCTION auth_integration_bearer(p_token_hash bytea)
    RETURNS TABLE (integration_id uuid, tenant_id uuid, name text, roles text[],
                   token_hash bytea, live boolean)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
BEGIN
    UPDATE public.integrations i SET last_used_at = now()
     WHERE i.token_hash = p_token_hash AND i.revoked_at IS NULL
       AND (i.last_used_at IS NULL OR i.last_used_at < now() - interval '1 minute');
    RETURN QUERY
        SELECT i.id, i.tenant_id, i.name, i.roles, i.token_hash,
               i.revoked_at IS NULL AND t.status = 'active'
          FROM public.integrations i JOIN public.tenants t ON t.id = i.tenant_id
         WHERE i.token_hash = p_token_hash;
END
$$;
REVOKE ALL ON FUNCTION auth_integration_bearer(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_integration_bearer(bytea) TO signage_app;
