-- Foundation: the application role that row-level security binds.
--
-- The service connects with DATABASE_URL (often a superuser or the schema owner, who
-- bypass RLS) and every pooled connection immediately runs `SET ROLE signage_app`:
-- a NOLOGIN role that owns nothing, is no superuser and cannot bypass RLS.
-- Each later migration grants this role exactly the privileges its tables need.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signage_app') THEN
        CREATE ROLE signage_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END
$$;

-- The connecting user must be able to SET ROLE to it.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'signage_app', 'MEMBER') THEN
        EXECUTE format('GRANT signage_app TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO signage_app;

-- Readiness probes (run as the application role) compare applied and shipped migrations.
GRANT SELECT ON schema_migrations TO signage_app;
