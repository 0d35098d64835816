"""Step compress: each variant's job, plan and run folder; truncation of the probe's update by SVD."""
