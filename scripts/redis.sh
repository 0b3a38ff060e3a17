#!/usr/bin/env bash
# redis-server for the queue tests. The tests start their own throwaway servers (loopback,
# a free port, a password, no persistence) and kill them when they end; this script only
# makes sure the binary is there.
#
#   bash scripts/redis.sh install   # install redis-server when it is missing (Debian/Ubuntu:
#                                   # apt-get; elsewhere it says what to install), and stop
#                                   # the service the package may have started
set -euo pipefail

die() { echo "redis.sh: $*" >&2; exit 1; }

install() {
    if command -v redis-server >/dev/null 2>&1; then
        return 0
    fi
    if command -v apt-get >/dev/null 2>&1; then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        echo "redis.sh: installing redis-server (Debian package)" >&2
        $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq redis-server >&2 \
            || die "apt-get install redis-server failed (output above)"
        # The package may start a system-wide server; the tests start their own.
        if command -v service >/dev/null 2>&1; then $sudo service redis-server stop >/dev/null 2>&1 || true; fi
        pkill -x redis-server >/dev/null 2>&1 || true
    else
        die "redis-server is not installed. Install it: Fedora: dnf install redis; macOS: brew install redis; Alpine: apk add redis"
    fi
    command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after installing"
}

case "${1:-}" in
    install) install ;;
    *) die "usage: scripts/redis.sh install" ;;
esac
