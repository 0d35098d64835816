# Issue 36: a pool of seeds at a collapse-prone recipe (lr 1.2e-3), predictions archived.
#   run: SEEDS=$(seq -s, 3029 3060) NAME=pool-lr12e4-b bash benchmarks/device/pool.sh   (carry .whl and .minilm)
# RANKCERT_TRAINER=gpu PER_GPU=16 trains every seed's jobs in one trainer process; the service logs come back.
source benchmarks/device/setup.sh
export RANKCERT_WORKER_DIR=/tmp/rankcert-services
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 500 > $OUT/$NAME-smi.csv &
SMI=$!
STARTED=$(date +%s)
timeout -s INT ${LIMIT:-540} python3 benchmarks/population_check.py pool --seeds $SEEDS --model /tmp/minilm --data .minilm/sst2 \
  --set train.lr=0.0012 $MINILM_SET --set certify.population.looks=3,8,16,32 --root /tmp/pool-$NAME \
  --per-gpu ${PER_GPU:-8} --out $OUT/$NAME.tgz 2>&1 | grep -v "^\[seed" | tail -30
echo "pool wall_s $(( $(date +%s) - STARTED )) trainer=${RANKCERT_TRAINER:-off} per_gpu=${PER_GPU:-8}"
kill $SMI
cp $RANKCERT_WORKER_DIR/*.log $OUT/ 2>/dev/null; xz -T0 $OUT/*.log; ls -la $OUT
