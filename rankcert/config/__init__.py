"""What a stage is given and what it hands on: params and variant kinds (params.yaml), the typed records stages write
for each other, the one codec between records and JSON/YAML, and the harness every entry point runs in (entrypoint.py).
"""
