#!/usr/bin/env bash
# PostgreSQL and Redis for the tests of real database clients on pyasync's
# loop (tests/test_db_real.py): each on 127.0.0.1, on its own port, with its
# data in a temp dir, as the current user (PostgreSQL refuses root: as root
# it runs as the `postgres` user the Debian package makes).
#
#   bash scripts/services.sh start      # install when missing (apt-get), start both
#   bash scripts/services.sh stop       # stop both, remove the temp dir
#   bash scripts/services.sh restart pg|redis   # what the tests call
#   eval "$(bash scripts/services.sh env)"      # export the tests' variables
#
# `start` writes the variables to $PYASYNC_SERVICES_DIR/env too
# (default /tmp/pyasync-services); the tests read them from the environment:
#   PYASYNC_TEST_PG_DSN     postgresql://postgres@127.0.0.1:PORT/postgres
#   PYASYNC_TEST_REDIS_URL  redis://127.0.0.1:PORT/0
#   PYASYNC_SERVICES        this script's path (the tests restart servers with it)
# Ports: PYASYNC_PG_PORT (default 54329), PYASYNC_REDIS_PORT (default 63799).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${PYASYNC_SERVICES_DIR:-/tmp/pyasync-services}
PG_PORT=${PYASYNC_PG_PORT:-54329}
REDIS_PORT=${PYASYNC_REDIS_PORT:-63799}
[ -f "$DIR/ports" ] && source "$DIR/ports"    # a running set keeps its ports

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

install_missing() {
    local want=()
    ls -d /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || want+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
    [ ${#want[@]} -eq 0 ] && return 0
    echo "services: installing ${want[*]} (apt-get)" >&2
    $sudo apt-get update -qq
    # The packages' own services are not wanted: ours run in $DIR.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${want[@]}" >/dev/null
    # Debian starts a cluster and a redis on their default ports: stop them,
    # they are not ours (and would only hold memory).
    if command -v service >/dev/null 2>&1; then
        $sudo service redis-server stop >/dev/null 2>&1 || true
        $sudo service postgresql stop >/dev/null 2>&1 || true
    fi
}

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1
}

# Run a PostgreSQL command as the user that owns the cluster.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    local bin; bin=$(pg_bin)
    as_pg "$bin/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/log" -w -t 60 \
        -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50" \
        start >/dev/null
}

pg_stop() {
    local bin; bin=$(pg_bin)
    [ -f "$DIR/pg/data/postmaster.pid" ] || return 0
    as_pg "$bin/pg_ctl" -D "$DIR/pg/data" -m fast -w -t 60 stop >/dev/null || true
}

redis_start() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" \
        --save "" --appendonly no --daemonize yes \
        --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/log"
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "services: redis did not answer on port $REDIS_PORT" >&2
    return 1
}

redis_stop() {
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || return 0
        sleep 0.05
    done
}

env_lines() {
    echo "export PYASYNC_TEST_PG_DSN=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    echo "export PYASYNC_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
    echo "export PYASYNC_SERVICES=$HERE/services.sh"
}

start() {
    install_missing
    if [ -f "$DIR/ports" ]; then
        # Already set up: make sure both run.
        as_pg "$(pg_bin)/pg_ctl" -D "$DIR/pg/data" status >/dev/null 2>&1 || pg_start
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || redis_start
    else
        rm -rf "$DIR"
        mkdir -p "$DIR/pg" "$DIR/redis"
        chmod 755 "$DIR"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR/pg"
        as_pg "$(pg_bin)/initdb" -D "$DIR/pg/data" -A trust -U postgres \
            -E UTF8 --locale=C.UTF-8 >/dev/null
        pg_start
        redis_start
        printf 'PG_PORT=%s\nREDIS_PORT=%s\n' "$PG_PORT" "$REDIS_PORT" > "$DIR/ports"
    fi
    env_lines > "$DIR/env"
    echo "services: PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT ($DIR)" >&2
}

stop() {
    pg_stop
    redis_stop
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) env_lines ;;
    restart)
        case "${2:-}" in
            pg) pg_stop; pg_start ;;
            redis) redis_stop; redis_start ;;
            *) echo "usage: $0 restart pg|redis" >&2; exit 2 ;;
        esac ;;
    *) echo "usage: $0 start|stop|env|restart pg|redis" >&2; exit 2 ;;
esac
