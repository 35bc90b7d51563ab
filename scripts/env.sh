# Shared by scripts/demo and scripts/test: one way to build the virtualenv.
# Sourced, not executed.

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "insi-gateway needs Python 3.11 (spyne does not import on 3.12+)" >&2
  exit 1
fi

VENV="${VENV:-.venv}"

# ensure_venv EXTRAS: create .venv if needed and install the project (editable) with EXTRAS.
ensure_venv() {
  local extras="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  local log="$VENV/pip-install.log"
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e ".${extras}" >"$log" 2>&1
  then
    cat "$log" >&2
    echo "pip install failed (log above, kept in $log)" >&2
    exit 1
  fi
}
