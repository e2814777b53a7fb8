#!/usr/bin/env bash
# Download into .whl/ (git-ignored) the wheels that benchmarks/gpu_check.sh installs on a GPU machine without a
# network: the locked versions (constraints.txt) of what hfchat imports there beyond the machine's own packages
# (its huggingface_hub, 1.33 when last seen, meets transformers' and datasets' need of >=1.31),
# for its Python (3.12 by default: GPU_PYTHON=3.11 for another).
#   bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES="transformers tokenizers datasets dill multiprocess fsspec"
pins=()
for name in $PACKAGES; do
    pin=$(grep -i "^${name}==" constraints.txt) || { echo "gpu_wheels: $name is not in constraints.txt" >&2; exit 1; }
    pins+=("$pin")
done
rm -rf .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest .whl \
    --python-version "${GPU_PYTHON:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 "${pins[@]}"
ls -l .whl >&2
du -sh .whl >&2
