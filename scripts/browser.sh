#!/usr/bin/env bash
# Makes sure Debian's `chromium` is on PATH for the browser tests (tests/health_page.rs open
# the health and timeline pages in headless chromium). Installs it with apt-get when missing
# (CI runs as root with access to Debian's mirrors); fails loudly when it cannot.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
echo "browser.sh: chromium is not on PATH; installing it with apt-get" >&2
if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser.sh: no apt-get here: install chromium yourself; the browser tests need it" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
command -v chromium >/dev/null 2>&1 || {
    echo "browser.sh: chromium is still not on PATH after apt-get install" >&2
    exit 1
}
