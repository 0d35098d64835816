"""Tools beside the pipeline: the pre-release gate, the demo workspace, seeds in parallel and the policy export."""
