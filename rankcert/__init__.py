"""rankcert: certify LoRA rank-compression policies (Bench v0.1 Certifiable)."""
import time

# When this process imported rankcert; a stage run by the warm worker reports from its client's start instead
# (settings.stage_start, read when the stage runs, never here: a malformed setting must not break an import).
PROCESS_START = time.time()
