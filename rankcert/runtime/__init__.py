"""How the pipeline runs, whatever the step: errors, settings, atomic outputs, GPU leases, where files live (layout),
the facts of the environment.
"""
