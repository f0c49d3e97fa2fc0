"""The local cloud: the pipeline's AWS services stood in for on one machine (see README)."""
