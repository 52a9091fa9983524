#!/usr/bin/env bash
# Sequential benchmark runs for the "Every algorithm" table (one at a time; the machine is shared).
#   bash benchmarks/algorithms/run.sh ALGORITHM [ALGORITHM ...]
# Same budget for every run: cnn-small, STEPS optimizer steps, batch 16 labeled + MU*16 unlabeled,
# seed SEED, Fashion-MNIST at 4 and 10 labels per class. Existing JSONs are kept (rerun: delete them).
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS="${STEPS:-300}"
MU="${MU:-3}"
SEED="${SEED:-0}"
OUT=benchmarks/algorithms/results
export OMP_NUM_THREADS=1  # one intra-op thread: on 2 shared cores, 2 threads run slower
mkdir -p "$OUT"
for algorithm in "$@"; do
  for labels in 4 10; do
    json="$OUT/${algorithm}_${labels}_seed${SEED}.json"
    [ -f "$json" ] && continue
    echo "$(date -u +%H:%M:%S) $algorithm $labels"
    .venv/bin/python -m sslengine.bench --algorithm "$algorithm" --labels-per-class "$labels" \
      --steps "$STEPS" --mu "$MU" --seed "$SEED" --json "$json" > "$OUT/${algorithm}_${labels}_seed${SEED}.log" 2>&1 \
      || echo "FAILED $algorithm $labels"
  done
done
