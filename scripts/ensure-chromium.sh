#!/usr/bin/env sh
# Make a headless Chromium available at /usr/bin/chromium (Debian's
# `chromium` package), so that the browser tests can open cairn's HTML
# reports (tests/integration/test_reports_browser.py).
#
# Idempotent, and never fails the build: when Chromium cannot be installed
# (not root, no apt-get, no network) it says so and exits 0; the browser tests
# are then skipped with a reason. No browser is downloaded from anywhere but
# the system's package manager.
set -u

have_chromium() {
    [ -x /usr/bin/chromium ] && /usr/bin/chromium --version >/dev/null 2>&1
}

if have_chromium; then
    echo "ensure-chromium: $(/usr/bin/chromium --version 2>/dev/null) already installed"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure-chromium: not root, cannot install Chromium (run: sudo apt-get install chromium); browser tests will be skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: apt-get not found, cannot install Chromium; browser tests will be skipped"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; then
    if have_chromium; then
        echo "ensure-chromium: installed $(/usr/bin/chromium --version 2>/dev/null)"
    else
        echo "ensure-chromium: chromium installed but /usr/bin/chromium does not run; browser tests will be skipped"
    fi
else
    echo "ensure-chromium: could not install chromium (apt-get failed); browser tests will be skipped"
fi
exit 0
