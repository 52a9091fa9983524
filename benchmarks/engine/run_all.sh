#!/bin/sh
# The RESULTS.md engine table: fixmatch, simmatch and supervised at 4 and 10 labels per class,
# 10 minutes each on this machine's CPU, one after another. JSON lands next to this script.
set -u
cd "$(dirname "$0")/../.."
for per_class in 4 10; do
  for algorithm in fixmatch supervised simmatch; do
    out="benchmarks/engine/fashion-mnist_${algorithm}_${per_class}pc_600s_seed0.json"
    .venv/bin/python -m sslengine.bench --dataset fashion-mnist --labels-per-class "$per_class" \
      --algorithm "$algorithm" --seconds 600 --seed 0 --threads 1 --json "$out" \
      > "/tmp/bench_${algorithm}_${per_class}.log" 2>&1
  done
done
