#!/usr/bin/env bash
# Installs the template checks, cfn-lint and checkov, pinned with all their dependencies in
# scripts/infra-requirements.txt, into <repo>/.venv-infra (git-ignored; apart from the
# emulator's .venv because checkov pins versions of libraries that moto also uses).
# Idempotent: does nothing when every pinned version is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-infra"
requirements="$root/scripts/infra-requirements.txt"

installed() {
  [ -x "$venv/bin/cfn-lint" ] && [ -x "$venv/bin/checkov" ] &&
    "$venv/bin/python3" - "$requirements" <<'PY' 2>/dev/null
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
echo "installing cfn-lint and checkov (pinned in scripts/infra-requirements.txt) into $venv"
python3 -m venv "$venv"
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/cfn-lint" --version >/dev/null
"$venv/bin/checkov" --version >/dev/null
