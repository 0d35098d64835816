# Issue 37: 64 seeds with the GPU trainer, 16 without, the canonical 3 cold and warm; predictions against the
# committed 48-seed pool.   run: bash benchmarks/device/throughput.sh   (carry .whl and .minilm)
# In two calls of under 10 minutes: PARTS=trainer (the 64 seeds), then PARTS=rest (canonical and baseline).
source benchmarks/device/setup.sh
export RANKCERT_WORKER_DIR=/tmp/rankcert-services
case ${PARTS:-all} in
  trainer) PART_ARGS="--baseline-seeds 0" ;;
  rest) PART_ARGS="--skip-trainer --canonical --baseline-seeds ${BASE_SEEDS:-16}" ;;
  *) PART_ARGS="--canonical --baseline-seeds ${BASE_SEEDS:-16}" ;;
esac
timeout -s INT ${LIMIT:-560} python3 benchmarks/throughput_bench.py --model /tmp/minilm --data .minilm/sst2 \
  --set train.lr=0.0005 $MINILM_SET --seeds ${SEEDS:-64} --per-gpu ${PER_GPU:-16} --baseline-per-gpu 8 $PART_ARGS \
  --pool benchmarks/results/2026-12-02-nvidia-h200-minilm-population-pool-0-24.tgz \
  --pool benchmarks/results/2026-12-02-nvidia-h200-minilm-population-pool-24-48.tgz \
  --root /tmp/throughput --out $OUT/throughput-${PARTS:-all}.json 2>&1 | grep -v "^\[seed" | tail -30
cp /tmp/throughput/*smi.csv $RANKCERT_WORKER_DIR/*.log $OUT/ 2>/dev/null; xz -T0 $OUT/*.log; ls -la $OUT
