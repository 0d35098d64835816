# Sourced first by every device script: the carried wheels (.whl/: dvc, datasets and what the device image lacks)
# and the MiniLM stand-in with SST-2 (.minilm/, packed by benchmarks/device_assets.py pack). See docs/development.md.
set -o pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 DVC_NO_ANALYTICS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH || exit 1
git config --global user.email bench@rankcert; git config --global user.name bench
python3 benchmarks/device_assets.py unpack --archive .minilm/minilm.tar.xz --out /tmp/minilm || exit 1
nvidia-smi -L
MINILM_SET="--set model.target_modules=query,key,value,attention.output.dense --set model.head_modules=classifier"
