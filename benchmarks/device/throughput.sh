# Issue 37: 64 seeds with the GPU trainer, 16 without, the canonical 3 cold and warm; predictions against the
# committed 48-seed pool.   run: bash benchmarks/device/throughput.sh   (carry .whl and .minilm)
source benchmarks/device/setup.sh
timeout -s INT ${LIMIT:-560} python3 benchmarks/throughput_bench.py --model /tmp/minilm --data .minilm/sst2 \
  --set train.lr=0.0005 $MINILM_SET --seeds ${SEEDS:-64} --per-gpu ${PER_GPU:-16} \
  --baseline-seeds ${BASE_SEEDS:-16} --baseline-per-gpu 8 --canonical \
  --pool benchmarks/results/2026-12-02-nvidia-h200-minilm-population-pool-0-24.tgz \
  --pool benchmarks/results/2026-12-02-nvidia-h200-minilm-population-pool-24-48.tgz \
  --root /tmp/throughput --out $OUT/throughput.json 2>&1 | grep -v "^\[seed" | tail -30
cp /tmp/throughput/*smi.csv $OUT/ 2>/dev/null; xz -T0 $OUT/throughput-*.log; ls -la $OUT
