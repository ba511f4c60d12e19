#!/usr/bin/env bash
# Creates the venv the reference recorder runs in: channelstream 0.7.1 (the reference
# implementation) plus websocket-client (the recorder's websocket client).
# Idempotent: re-running only installs what is missing.
# Usage: tools/reference/setup.sh [VENV_DIR]   (default: tools/reference/.venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-${CHANNELSTREAM_REF_VENV:-$here/.venv}}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
    for candidate in python3.11 python3.12 python3.10 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
    done
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import channelstream, websocket, itsdangerous' >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        'channelstream==0.7.1' 'websocket-client>=1.6,<2'
fi
# channelstream 0.7.1 reads its version through pkg_resources (setuptools).
if ! "$venv/bin/python" -c 'import pkg_resources' >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'setuptools<81'
fi
"$venv/bin/python" -c 'import channelstream, websocket; print("reference venv ready:", channelstream.__version__)'
echo "$venv"
