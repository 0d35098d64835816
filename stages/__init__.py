"""rankcert: certify LoRA rank-compression policies (Bench v0.1 Certifiable)."""
