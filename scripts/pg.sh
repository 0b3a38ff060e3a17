#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: initdb + pg_ctl in a temp dir, listening on a
# free loopback port and a unix socket in that dir, `trust` auth, no durability (fast).
#
#   eval "$(scripts/pg.sh start)"    # start; prints `export DATABASE_URL=... SHARDTEST_PG_DIR=...`
#   scripts/pg.sh env                # print the exports again
#   scripts/pg.sh stop               # stop it and remove its dir (always; fine if not running)
#   scripts/pg.sh run -- CMD ARGS..  # start, run CMD with DATABASE_URL set, stop even on failure;
#                                    # exits with CMD's status
#
# The server's dir is $SHARDTEST_PG_DIR (default: <tmp>/shardtest-pg-<uid>); `start` writes
# $SHARDTEST_PG_DIR/env with the exports. Run as root, the server runs as the `postgres` user
# (initdb refuses root). Nothing listens beyond 127.0.0.1.
#
# Needs initdb and pg_ctl: on PATH or in /usr/lib/postgresql/*/bin. To install them:
#   Debian/Ubuntu: apt-get install postgresql      Fedora: dnf install postgresql-server
#   macOS: brew install postgresql                 Alpine: apk add postgresql
set -euo pipefail

DIR="${SHARDTEST_PG_DIR:-${TMPDIR:-/tmp}/shardtest-pg-$(id -u)}"
PORTS_FROM="${SHARDTEST_PG_PORT_FROM:-15432}"

die() { echo "pg.sh: $*" >&2; exit 1; }

find_bin() {
    local name="$1" p
    if p="$(command -v "$name" 2>/dev/null)"; then echo "$p"; return 0; fi
    for p in /usr/lib/postgresql/*/bin/"$name" /usr/local/pgsql/bin/"$name"; do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 1
}

need_bins() {
    INITDB="$(find_bin initdb)" && PG_CTL="$(find_bin pg_ctl)" || die "initdb/pg_ctl not found.
Install PostgreSQL's server binaries:
  Debian/Ubuntu: apt-get install postgresql   (binaries land in /usr/lib/postgresql/<ver>/bin)
  Fedora: dnf install postgresql-server       macOS: brew install postgresql   Alpine: apk add postgresql"
}

# Runs a command as the server's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root and there is no 'postgres' user to run the server as (initdb refuses root): create one (useradd -r postgres) or run as a normal user"
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

exports() {
    [ -f "$DIR/env" ] || die "no server in $DIR (run: scripts/pg.sh start)"
    cat "$DIR/env"
}

start() {
    need_bins
    if [ -f "$DIR/env" ] && [ -f "$DIR/data/postmaster.pid" ] && as_owner "$PG_CTL" -D "$DIR/data" status >/dev/null 2>&1; then
        exports
        return 0
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    as_owner "$INITDB" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; die "initdb failed (log above)"; }
    local port started=""
    for ((port = PORTS_FROM; port < PORTS_FROM + 100; port++)); do
        port_busy "$port" && continue
        if as_owner "$PG_CTL" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 start -o \
            "-p $port -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            >"$DIR/pg_ctl.log" 2>&1; then
            started="$port"
            break
        fi
        grep -q "could not bind\|already in use" "$DIR/server.log" 2>/dev/null \
            || { cat "$DIR/server.log" >&2 || true; die "pg_ctl start failed (log above)"; }
    done
    [ -n "$started" ] || die "no free port in $PORTS_FROM-$((PORTS_FROM + 99)) (set SHARDTEST_PG_PORT_FROM)"
    printf 'export DATABASE_URL=%q\nexport SHARDTEST_PG_DIR=%q\n' \
        "postgresql://postgres@127.0.0.1:$started/postgres" "$DIR" >"$DIR/env"
    chmod 644 "$DIR/env"
    exports
}

stop() {
    [ -d "$DIR" ] || return 0
    if [ -f "$DIR/data/postmaster.pid" ]; then
        find_bin pg_ctl >/dev/null && PG_CTL="$(find_bin pg_ctl)" \
            && as_owner "$PG_CTL" -D "$DIR/data" -m fast -w -t 20 stop >/dev/null 2>&1 || true
        # Still there (pg_ctl missing or stuck): kill the postmaster by its recorded pid.
        if [ -f "$DIR/data/postmaster.pid" ]; then
            local pid
            pid="$(head -1 "$DIR/data/postmaster.pid")"
            [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$DIR"
}

cmd="${1:-}"
case "$cmd" in
    start) start ;;
    stop) stop ;;
    env) exports ;;
    run)
        shift
        [ "${1:-}" = "--" ] && shift
        [ $# -gt 0 ] || die "usage: scripts/pg.sh run -- CMD [ARGS..]"
        trap stop EXIT
        started="$(start)" || die "PostgreSQL did not start (see above); not running: $*"
        eval "$started"
        export DATABASE_URL SHARDTEST_PG_DIR
        # In the background so a signal interrupts `wait` at once: pass it on, then stop.
        set +e
        "$@" <&0 &
        child=$!
        trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM
        wait "$child"
        status=$?
        set -e
        exit "$status"
        ;;
    *) echo "usage: scripts/pg.sh start|stop|env|run -- CMD [ARGS..]" >&2; exit 2 ;;
esac
