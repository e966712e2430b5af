#!/usr/bin/env sh
# Make the PostgreSQL server binaries (initdb, pg_ctl) available, so that the
# tests marked `postgres` can start a throwaway cluster (tests/postgres.py).
#
# Idempotent, and never fails the build: when the binaries cannot be installed
# (not root, no apt-get, no network) it says so and exits 0; the postgres tests
# are then skipped with a reason.
set -u

have_server_binaries() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        return 0
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            return 0
        fi
    done
    return 1
}

if have_server_binaries; then
    echo "ensure-postgres: PostgreSQL server binaries already installed"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure-postgres: not root, cannot install PostgreSQL (run: sudo apt-get install postgresql); postgres tests will be skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: apt-get not found, cannot install PostgreSQL; postgres tests will be skipped"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; then
    if have_server_binaries; then
        echo "ensure-postgres: installed PostgreSQL server binaries"
    else
        echo "ensure-postgres: postgresql installed but initdb/pg_ctl not found; postgres tests will be skipped"
    fi
else
    echo "ensure-postgres: could not install postgresql (apt-get failed); postgres tests will be skipped"
fi
exit 0
