"""Step evaluate: predictions on the eval set, and every stage's outputs read back for certify."""
