-- The nodes' own login role: signage_node (docs/security.md, "Database roles").
--
-- Three roles, three jobs:
--   signage_owner  LOGIN, owns the schema, runs `signage migrate` (created by the DBA with
--                  deploy/postgres/roles.sql; any owner works, this file does not need it)
--   signage_app    NOLOGIN, what every query runs as (SET ROLE, store/db.py); RLS binds it
--   signage_node   LOGIN, what DATABASE_URL names on the nodes: a member of signage_app and
--                  nothing else, no superuser, no BYPASSRLS, owns nothing. A `RESET ROLE`
--                  (or any SQL that reaches the connection) lands on a role that RLS binds
--                  just the same, never on one that bypasses it.
--
-- Roles belong to the whole cluster while migrations run per database, so everything here
-- is conditional and tolerates a twin migration of another database creating the same role
-- at the same moment (many test databases share one server). The password is never set
-- here: the DBA sets it (roles.sql, or ALTER ROLE signage_node PASSWORD ...).
DO $$
DECLARE
    node record;
    other text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signage_node') THEN
        BEGIN
            CREATE ROLE signage_node LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
                NOREPLICATION NOBYPASSRLS;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by the same migration of another database
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role signage_node does not exist and % may not create it',
                    current_user
                    USING HINT = 'run deploy/postgres/roles.sql as a superuser once, then '
                                 'migrate again (docs/operations.md, "The database roles")';
        END;
    END IF;

    -- An existing role is used only if it is as harmless as the one created above.
    SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication, rolinherit
      INTO node FROM pg_roles WHERE rolname = 'signage_node';
    IF node.rolsuper OR node.rolbypassrls OR node.rolcreaterole OR node.rolcreatedb
       OR node.rolreplication OR NOT node.rolinherit THEN
        RAISE EXCEPTION 'role signage_node has powers the nodes must not have'
            USING HINT = 'ALTER ROLE signage_node INHERIT NOSUPERUSER NOBYPASSRLS '
                         'NOCREATEROLE NOCREATEDB NOREPLICATION';
    END IF;

    IF NOT pg_has_role('signage_node', 'signage_app', 'MEMBER') THEN
        BEGIN
            GRANT signage_app TO signage_node;
        EXCEPTION
            WHEN unique_violation THEN
                NULL;  -- granted meanwhile by the same migration of another database
        END;
    END IF;

    -- Member of signage_app and of nothing else (nothing to SET ROLE into).
    SELECT string_agg(r.rolname, ', ' ORDER BY r.rolname) INTO other
      FROM pg_roles r
     WHERE r.rolname NOT IN ('signage_node', 'signage_app')
       AND pg_has_role('signage_node', r.oid, 'MEMBER');
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'role signage_node is a member of %: it must only be one of signage_app',
            other
            USING HINT = format('REVOKE %s FROM signage_node', other);
    END IF;

    -- Owns nothing in this database.
    IF EXISTS (SELECT 1 FROM pg_class WHERE relowner = 'signage_node'::regrole)
       OR EXISTS (SELECT 1 FROM pg_proc WHERE proowner = 'signage_node'::regrole)
       OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspowner = 'signage_node'::regrole)
       OR EXISTS (SELECT 1 FROM pg_database WHERE datdba = 'signage_node'::regrole) THEN
        RAISE EXCEPTION 'role signage_node owns objects: the nodes must own nothing'
            USING HINT = 'REASSIGN OWNED BY signage_node TO signage_owner';
    END IF;

    -- Where CONNECT was revoked from PUBLIC (roles.sql does), the nodes still connect.
    IF NOT has_database_privilege('signage_node', current_database(), 'CONNECT') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO signage_node', current_database());
    END IF;
END
$$;
