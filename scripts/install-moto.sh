#!/usr/bin/env bash
# Installs the DynamoDB/SQS emulator (moto_server), pinned with all its dependencies in
# scripts/emulator-requirements.txt, into <repo>/.venv, where the emulator tests find it.
# Idempotent: does nothing when every pinned version is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
requirements="$root/scripts/emulator-requirements.txt"

installed() {
  [ -x "$venv/bin/moto_server" ] && "$venv/bin/python3" - "$requirements" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if "==" in line:
        name, want = line.split("==")
        if version(name) != want:
            sys.exit(1)
PY
}

installed && exit 0
echo "installing the emulator (pinned in scripts/emulator-requirements.txt) into $venv"
python3 -m venv "$venv"
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/moto_server" --help >/dev/null
