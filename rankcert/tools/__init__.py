"""Tools beside the pipeline: the pre-release gate, the demo workspace, seeds in parallel, policy export, and
the deps closure that dvc.yaml is checked against."""
