#!/usr/bin/env bash
# Install everything agentgraph needs on Debian 12: system packages, then the venv.
#
# Idempotent and fast on a second run:
#   * apt runs only when redis-server or chromium is missing;
#   * the venv is created only when .venv/bin/python is missing;
#   * the pip step is skipped while .venv/.installed-<sha256 of pyproject.toml> exists
#     (editing pyproject.toml changes the hash and reinstalls).
#
# Environment:
#   PYTHON      interpreter for the venv (default: python3.11, else python3; must be 3.11)
#   VENV        venv directory (default: .venv)
#   AGENTGRAPH_SKIP_APT=1   never call apt-get (you install redis-server/chromium yourself)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

step() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- 1. system packages -------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ((${#missing[@]})); then
  if [[ "${AGENTGRAPH_SKIP_APT:-}" == 1 ]]; then
    die "missing ${missing[*]} and AGENTGRAPH_SKIP_APT=1; install them yourself"
  fi
  SUDO=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}; run as root or install sudo"
    SUDO=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get: install them with your package manager"
  step "installing redis-server, chromium (apt; missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  # Both always: the command is idempotent and keeps the two at matching releases.
  "${SUDO[@]}" apt-get install -y -qq redis-server chromium
else
  step "redis-server and chromium present (apt step skipped)"
fi

# --- 2. virtual environment ---------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  PY="${PYTHON:-}"
  if [[ -z "$PY" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
  fi
  ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" || die "$PY does not run"
  [[ "$ver" == 3.11 ]] || die "$PY is Python $ver; agentgraph needs 3.11 (set PYTHON=/path/to/python3.11)"
  step "creating $VENV with $PY ($ver)"
  "$PY" -m venv "$VENV"
else
  step "$VENV exists"
fi

# --- 3. Python packages -------------------------------------------------------
hash="$(sha256sum pyproject.toml | cut -d" " -f1)"
stamp="$VENV/.installed-$hash"
if [[ -f "$stamp" ]]; then
  step "Python packages up to date ($stamp)"
  exit 0
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
log="$VENV/pip-install.log"
: >"$log"
# pip's output goes to a log (hundreds of index warnings); its tail is shown on failure.
pip_install() {
  if ! "${PIP[@]}" install "$@" >>"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "pip install $* failed (full log: $log)"
  fi
}
# torch first and pinned: pip's find-links holds the CPU wheel; anything else pulls
# several GB of CUDA packages (DESIGN.md, machine facts).
step "installing torch==2.13.0 (CPU wheel)"
pip_install "torch==2.13.0"
# llama-cpp-python has no CPU wheel and compiles (~5 min on 2 cores); pip caches
# the built wheel, so later venvs reuse it. LLAVA off and no -march=native keep it
# portable and shorter.
step "installing agentgraph[test,local-llm] (first run compiles llama-cpp-python, ~5 min; log: $log)"
started=$SECONDS
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF}" pip_install -e ".[test,local-llm]"
rm -f "$VENV"/.installed-*
touch "$stamp"
step "Python packages installed in $((SECONDS - started)) s"
