#!/usr/bin/env bash
# Installs cargo-lambda and zig (pinned in scripts/lambda-requirements.txt) from PyPI into
# <repo>/.venv-lambda (git-ignored), and the Rust target the architecture needs.
# Idempotent. Prints the directory to put on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-lambda"
requirements="$root/scripts/lambda-requirements.txt"
arch="${1:-arm64}"

# every pinned line present in what the venv holds (read whole: no early-exit pipes)
installed="$("$venv/bin/python3" -m pip freeze 2>/dev/null || true)"
missing=0
while read -r pin; do
  grep -qxF "$pin" <<<"$installed" || missing=1
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$requirements")
if [ "$missing" -ne 0 ]; then
  echo "installing cargo-lambda and zig (pinned in scripts/lambda-requirements.txt) into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$requirements"
fi
case "$arch" in
  arm64) target=aarch64-unknown-linux-gnu ;;
  x86_64) target=x86_64-unknown-linux-gnu ;;
  *) echo "unknown architecture '$arch': arm64 or x86_64" >&2; exit 2 ;;
esac
targets="$(rustup target list --installed)"
if ! grep -qxF "$target" <<<"$targets"; then
  rustup target add "$target" >&2
fi
echo "$venv/bin"
