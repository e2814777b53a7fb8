#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py) on a bare GPU machine, within 10 minutes.
#   bash benchmarks/gpu_check.sh [--dry-run] [--output FILE]
# The machine's python3 must hold torch; the packages hfchat needs beyond what it has travel as wheels in .whl/
# (benchmarks/gpu_wheels.sh downloads them where there is a network) and are installed here first, unless --dry-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [[ " $* " != *" --dry-run "* ]] && compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/hfchat-wheels .whl/*.whl
    export PYTHONPATH="/tmp/hfchat-wheels${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec timeout 600 "$PYTHON" benchmarks/gpu_check.py "$@"
