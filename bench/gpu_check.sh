#!/usr/bin/env bash
# The GPU checks in one go, within about 8 minutes, on a CUDA machine that has only python3 with
# torch, lightning, h5py, transformers (and pyyaml, which transformers needs) and no network.
#
#   bench/gpu_check.sh [--smoke]        figures printed and written to $OUT (default gpu_check/)
#
# Bring alongside the working tree:
#   data/demo/shards/   the demo's shards (`snakemake --cores 2 preprocess_demo` makes them)
#   data/demo/visual_encoder/  its small object encoder (`snakemake --cores 2
#                       data/demo/visual_encoder/encoder.pt`); without it a random one is used
#   bench/wheels/*.whl  optional pure-Python wheels the machine lacks, e.g. mir_eval: put on
#                       the import path as they are (a pure-Python wheel imports from its zip)
# Each section has its own time limit, so one that hangs or fails leaves the others' figures.
# --smoke runs every section at toy sizes (minutes on a CPU): a check that the script works.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
for wheel in bench/wheels/*.whl; do
    [ -e "$wheel" ] && PYTHONPATH="$PWD/$wheel${PYTHONPATH:+:$PYTHONPATH}"
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ ! -f data/demo/shards/train.json ]; then
    echo "gpu_check: data/demo/shards is missing: bring the demo's shards (see the top of $0)" >&2
fi

# section and its limit in seconds: 40 + 200 + 150 + 50 + 40 = 480
for pair in env:40 train:200 demo:150 ddp:50 detectors:40; do
    section=${pair%%:*}
    limit=${pair##*:}
    echo "=== $section (limit ${limit} s)"
    start=$(date +%s)
    timeout --kill-after=5 "$limit" "$PYTHON" bench/gpu_check.py "$section" --out "$OUT" "$@" \
        2>&1 | tee "$OUT/$section.log" | grep -v -e "^ *warnings.warn" -e "Warning:" | tail -n 40
    echo "=== $section: exit ${PIPESTATUS[0]}, $(($(date +%s) - start)) s"
done
