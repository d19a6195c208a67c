#!/usr/bin/env bash
# Installs Debian's chromium (headless, for the dashboard's browser test,
# cli/tests/dashboard_browser.rs) with apt-get when /usr/bin/chromium is missing, then
# prints its version. Idempotent; fails with a clear message when it cannot install.
set -euo pipefail
browser=/usr/bin/chromium

if [ ! -x "$browser" ]; then
  echo "installing Debian's chromium (for the dashboard browser test)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "error: $browser is missing and this is not root (no sudo): install the chromium package" >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $browser is missing and apt-get is not available: install chromium by hand" >&2
    exit 1
  fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium; }; then
    echo "error: apt-get could not install chromium" >&2
    exit 1
  fi
  if [ ! -x "$browser" ]; then
    echo "error: the chromium package is installed but $browser is missing" >&2
    exit 1
  fi
fi
# the Debian wrapper script may print a shell warning on stderr; the version is on stdout
"$browser" --version 2>/dev/null
