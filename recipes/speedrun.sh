#!/usr/bin/env bash
# Run a preset end to end on a GPU machine: tokenizer -> pretraining -> samples, into runs/<preset>.
#   bash recipes/speedrun.sh d20            # nanochat's $100 tier: ~3.5 h on 8x H100
#   bash recipes/speedrun.sh d12 runs/mine  # a quick one (~0.4 h), into runs/mine
# Every GPU of the machine is used (one process each). Rerun the same command to resume after an interruption.
set -euo pipefail
PRESET="${1:-d20}"
OUTPUT_DIR="${2:-runs/$PRESET}"
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/hfchat ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --upgrade pip
    .venv/bin/python -m pip install torch    # the CUDA build for this machine
    .venv/bin/python -m pip install -e .
fi
.venv/bin/hfchat speedrun --preset "$PRESET" --output-dir "$OUTPUT_DIR"
