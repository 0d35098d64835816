"""Verification of a release's certificate: every figure re-derived from the predictions and run records."""
