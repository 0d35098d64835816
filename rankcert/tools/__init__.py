"""Tools beside the pipeline: the pre-release gate and the demo workspace builder."""
