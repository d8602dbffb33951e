# Sourced by the load scripts: the store a release gateway runs on for a load. KGW_STORE=postgres
# starts a throwaway PostgreSQL cluster (tests/integration/pg_cluster.sh); otherwise SQLite.
#   bench_store_start; ... "store": $store ...; stored=$(bench_stored_messages "$data"); bench_store_stop
store='{"type": "sqlite"}'
pg_dir=""
bench_store_start() {
  if [ "${KGW_STORE:-sqlite}" = "postgres" ]; then
    pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/kgw-bench-pg-XXXXXX")
    bash tests/integration/pg_cluster.sh start "$pg_dir" >/dev/null
    bash tests/integration/pg_cluster.sh createdb "$pg_dir" load
    store="{\"type\": \"postgres\", \"conninfo\": \"host=$pg_dir port=5432 user=kgw dbname=load\"}"
  fi
}
# Messages the store holds; DATA is the gateway's data folder (the SQLite file).
bench_stored_messages() {
  if [ -n "$pg_dir" ]; then
    "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql" -tA "host=$pg_dir port=5432 user=kgw dbname=load" \
      -c "SELECT COUNT(*) FROM inbound_messages"
  else
    sqlite3 "$1/gateway.db" "SELECT COUNT(*) FROM inbound_messages"
  fi
}
bench_store_stop() { [ -z "$pg_dir" ] || bash tests/integration/pg_cluster.sh stop "$pg_dir"; }
