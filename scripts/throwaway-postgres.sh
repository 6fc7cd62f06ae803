#!/usr/bin/env bash
# A throwaway Postgres cluster in a directory of its own, on a free loopback port.
# Leaves any existing cluster alone. Usage:
#   scripts/throwaway-postgres.sh start DIR   → prints the database URL on stdout
#   scripts/throwaway-postgres.sh stop DIR    → stops the server and deletes DIR
#   scripts/throwaway-postgres.sh pause DIR   → stops the server, keeps its data (tests of outages)
#   scripts/throwaway-postgres.sh resume DIR  → starts it again on the same port
set -euo pipefail

action=${1:?usage: throwaway-postgres.sh start|stop DIR}
dir=${2:?usage: throwaway-postgres.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "Postgres server binaries not found; run scripts/ensure-deps.sh" >&2; exit 1; }

# initdb refuses to run as root: run the server as the 'postgres' user when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    as_owner "$bin/initdb" -D "$dir/data" -U cashier --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # Synchronous commit stays on: durability is not traded for speed. Tuned for a small machine.
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
wal_buffers = 16MB
commit_delay = 0
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U cashier cashier
    echo "$port" >"$dir/port"
    echo "postgres://cashier@127.0.0.1:$port/cashier"
    ;;
  pause)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: throwaway-postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
