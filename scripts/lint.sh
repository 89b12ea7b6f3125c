#!/usr/bin/env bash
# The rest of `make lint`, after rustfmt and clippy for this machine:
# - clippy -D warnings for Windows and macOS too (cross-checked with cargo-zigbuild: ring's C
#   needs a compiler for the target), so a Unix-only call or a lint that only fires elsewhere
#   shows up here, not in a release;
# - the GitHub workflow files against their schema, and every shell script (including the
#   workflows' `run:` steps) with shellcheck; deploy/install.sh must also parse as POSIX sh.
# The tools are installed on first use, without root (scripts/tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

WHO=lint
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

# --- Rust, for the other platforms --------------------------------------------------------------
CROSS="x86_64-pc-windows-gnu aarch64-apple-darwin"
# The standard libraries come from rustup's own server, which is not one of the package
# registries a build machine is promised: without it, say so loudly and check the rest.
# shellcheck disable=SC2086 # one word per target
if ! command -v rustup >/dev/null; then
  say "warning: no rustup, so no clippy for $CROSS"
elif ! (ensure_targets $CROSS); then
  say "WARNING: could not add the rust targets $CROSS (is static.rust-lang.org reachable?); skipping their clippy"
else
  ensure_zig
  ensure_zigbuild
  for t in $CROSS; do
    "$ZIGBUILD" clippy --locked --quiet --target "$t" --all-targets -- -D warnings
  done
fi

# --- workflows and shell scripts ----------------------------------------------------------------
ensure_lint_tools
workflows=(.github/workflows/*.yml)
"$LINT_BIN/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"

"$LINT_BIN/shellcheck" deploy/install.sh scripts/*.sh .ci/run

# Each workflow `run:` step is a bash script (GitHub's default shell on Linux and macOS).
steps=$(mktemp -d)
trap 'rm -rf "$steps"' EXIT
"$LINT_BIN/python" - "$steps" "${workflows[@]}" <<'EOF'
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
(cd "$steps" && "$LINT_BIN/shellcheck" ./*.sh)

# install.sh runs under `curl … | sh`: dash (Debian's sh) must parse it; shellcheck has already
# held it to POSIX sh through its shebang.
sh -n deploy/install.sh
if command -v dash >/dev/null; then dash -n deploy/install.sh; fi
if command -v checkbashisms >/dev/null; then checkbashisms deploy/install.sh; fi
say "Windows and macOS clippy, workflows and shell scripts: ok"
