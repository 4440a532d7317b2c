"""Numerical building blocks shared by the learners: training, kernels, kernel ridge regression.

These modules import jax; nothing in the CLI's fast paths imports them.
"""
