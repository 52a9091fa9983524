#!/bin/sh
# Acceptance 2 of issue 13, shortened or full: typicality + pre-training vs random, same total time.
# usage: benchmarks/engine/run_pair.sh PRETRAIN_SECONDS TRAIN_SECONDS SEED
set -e
cd "$(dirname "$0")/../.."
P=$1; T=$2; S=$3; TOTAL=$(python3 -c "print(int($P + $T))")
OUT=benchmarks/engine/results
mkdir -p $OUT
nice -n 10 .venv/bin/python -m sslengine.bench --dataset fashion-mnist --labels-per-class 4 --select typicality \
  --pretrain-seconds "$P" --algorithm fixmatch --seconds "$T" --seed "$S" --threads 1 \
  --json $OUT/typicality_pre${P}_train${T}_seed${S}.json > /dev/null
nice -n 10 .venv/bin/python -m sslengine.bench --dataset fashion-mnist --labels-per-class 4 --select random \
  --pretrain-seconds 0 --algorithm fixmatch --seconds "$TOTAL" --seed "$S" --threads 1 \
  --json $OUT/random_pre0_train${TOTAL}_seed${S}.json > /dev/null
