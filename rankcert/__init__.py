"""rankcert: certify LoRA rank-compression policies (Bench v0.1 Certifiable)."""
import time

from rankcert import settings

# When the stage started, imports included: the warm worker's client passes its own start time, so a stage
# that runs in a forked child still reports the wall time its caller saw.
PROCESS_START = settings.stage_start() or time.time()
