"""rankcert: certify LoRA rank-compression policies (Bench v0.1 Certifiable)."""
import time

# Taken before any heavy import, so a stage can report its whole cost, imports included.
PROCESS_START = time.perf_counter()
