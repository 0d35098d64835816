"""Step certify: the statistics, the spec and population verdicts, the policy and its claims, what ran, the frontier
and the certificate.
"""
