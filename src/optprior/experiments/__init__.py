"""Experiments: the bundled demo and the paper's reproduction protocol."""
