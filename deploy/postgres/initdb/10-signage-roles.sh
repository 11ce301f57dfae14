#!/bin/sh
# Run by the postgres image once, when it initialises an empty data folder (compose.yaml):
# the installation's roles and database, from deploy/postgres/roles.sql. The passwords are
# read from the compose secrets by psql itself (never on a command line).
set -eu
{
  printf '%s\n' '\set owner_password `cat /run/secrets/signage_owner_password`'
  printf '%s\n' '\set node_password `cat /run/secrets/signage_node_password`'
  cat /opt/signage-db/roles.sql
} | psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres
