"""rankcert: certify LoRA rank-compression policies (Bench v0.1 Certifiable)."""
import os
import time

# When the stage started, imports included: the warm worker's client passes its own start time, so a stage
# that runs in a forked child still reports the wall time its caller saw.
PROCESS_START = float(os.environ.get("RANKCERT_STAGE_START") or time.time())
