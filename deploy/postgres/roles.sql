-- The database roles and the database of an installation (docs/security.md, "Database roles").
-- Run once per PostgreSQL cluster, as a superuser (compose does it on first start):
--
--   psql -v owner_password="$OWNER_PW" -v node_password="$NODE_PW" -f deploy/postgres/roles.sql
--
-- Optional: -v dbname=... (default signage). Safe to run again: what exists is kept, and
-- the passwords are (re)set.
--
--   signage_owner  LOGIN; owns the database and its schema; `signage migrate` runs as it.
--                  No superuser, no CREATEROLE, no BYPASSRLS.
--   signage_app    NOLOGIN; every application query runs as it (SET ROLE); RLS binds it.
--   signage_node   LOGIN; the nodes' DATABASE_URL; a member of signage_app only, owns
--                  nothing, no superuser, no BYPASSRLS (sql/0060_node_login_role.sql checks).
\set ON_ERROR_STOP on
\if :{?owner_password}
\else
  \echo 'roles.sql: set -v owner_password=... (and node_password)'
  \quit
\endif
\if :{?node_password}
\else
  \echo 'roles.sql: set -v node_password=...'
  \quit
\endif
\if :{?dbname}
\else
  \set dbname signage
\endif

SELECT 'CREATE ROLE signage_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signage_app') \gexec
SELECT 'CREATE ROLE signage_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signage_owner') \gexec
SELECT 'CREATE ROLE signage_node LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signage_node') \gexec

SELECT format('ALTER ROLE signage_owner PASSWORD %L', :'owner_password') \gexec
SELECT format('ALTER ROLE signage_node PASSWORD %L', :'node_password') \gexec

-- The owner may SET ROLE signage_app (sql/0001_foundation.sql checks for it); the nodes
-- are members of signage_app and of nothing else.
GRANT signage_app TO signage_owner;
GRANT signage_app TO signage_node;

SELECT format('CREATE DATABASE %I OWNER signage_owner', :'dbname')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'dbname') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO signage_node', :'dbname') \gexec

\connect :"dbname"
-- Only the owner creates objects (PostgreSQL < 15 let every role create in public).
ALTER SCHEMA public OWNER TO signage_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
