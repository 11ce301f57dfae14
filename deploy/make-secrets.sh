#!/bin/sh
# Creates the secrets compose.yaml reads, once: random passwords, the JWT key, and the two
# database URLs built from them. Existing files are kept (run it again safely).
#
#   deploy/make-secrets.sh [FOLDER]      (default: ./secrets)
#
# The folder is private to you (0700); the files in it are 0644 so that the containers'
# unprivileged users can read them where compose mounts them (/run/secrets/NAME).
# For TLS (compose.tls.yaml) put tls_cert (full chain, PEM) and tls_key beside them.
set -eu
dir=${1:-secrets}
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
keep_or_write() {  # NAME VALUE
  if [ ! -s "$dir/$1" ]; then
    printf '%s\n' "$2" > "$dir/$1"
    echo "wrote $dir/$1"
  fi
  chmod 644 "$dir/$1"
}

keep_or_write postgres_password "$(random_hex 24)"
keep_or_write signage_owner_password "$(random_hex 24)"
keep_or_write signage_node_password "$(random_hex 24)"
keep_or_write jwt_secret "$(random_hex 32)"
owner=$(cat "$dir/signage_owner_password")
node=$(cat "$dir/signage_node_password")
keep_or_write owner_database_url "postgresql://signage_owner:$owner@postgres:5432/signage"
keep_or_write node_database_url "postgresql://signage_node:$node@postgres:5432/signage"
