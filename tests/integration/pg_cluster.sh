#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (the Debian server package, run as the postgres
# user when the tests run as root; it listens only on a Unix socket in its own folder; it loads
# pg_stat_statements, with which a store test counts the pages a claim reads).
#   tests/integration/pg_cluster.sh start DIR        # prints a libpq conninfo for database "postgres"
#   tests/integration/pg_cluster.sh createdb DIR NAME
#   tests/integration/pg_cluster.sh restart DIR      # a fast restart (every connection is dropped)
#   tests/integration/pg_cluster.sh stop DIR         # stops it and removes DIR
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then echo "pg_cluster: no PostgreSQL server installed (deploy/setup.sh installs it)" >&2; exit 3; fi
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=${2:?usage: pg_cluster.sh start|createdb|stop DIR [NAME]}
case "$1" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U kgw -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -c listen_addresses= -p 5432 -c max_connections=200 -c shared_preload_libraries=pg_stat_statements" \
      start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
    echo "host=$dir port=5432 user=kgw dbname=postgres"
    ;;
  createdb)
    as_owner "$bin/createdb" -h "$dir" -p 5432 -U kgw "${3:?database name}"
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 restart >/dev/null
    ;;
  stop)
    if [ -d "$dir/data" ]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *) echo "pg_cluster: start, createdb or stop" >&2; exit 2 ;;
esac
