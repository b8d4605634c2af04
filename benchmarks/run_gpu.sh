#!/usr/bin/env bash
# The benchmark suite on a GPU machine, for the backends installed there; the figures for benchmarks/RESULTS.md.
#
#   BACKENDS=torch,jax bash benchmarks/run_gpu.sh            # results in $OUT or benchmarks/results/gpu
#
# Sizes differ from the CPU defaults where a GPU needs bigger batches to fill it: training at batch 16 and 64
# (N=64) and 16 (N=128), inference at batch 16, 1024 and 4096 (N=64), 2 s per timed repeat, median of 3.
set -u
out=${OUT:-benchmarks/results/gpu}
backends=${BACKENDS:-torch,tensorflow,jax}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:$PWD/compat${PYTHONPATH:+:$PYTHONPATH}"
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; } \
    >"$out/device.txt" 2>&1
KERAS_BACKEND=${backends%%,*} python3 -c \
    "import platform, keras; print('python', platform.python_version(), 'keras', keras.__version__)" \
    >>"$out/device.txt" 2>&1
cat "$out/device.txt"
python3 -m benchmarks.bench_model --backends "$backends" --train 1x16,2x8,1x64,1x16@128 \
    --predict 1x16,1x1024,1x4096 --repeats 3 --repeat-s 2 --json "$out/model.json" 2>&1 | tee "$out/model.log"
python3 -m benchmarks.bench_physics --backends "$backends" --json "$out/physics.json" 2>&1 | tee "$out/physics.log"
