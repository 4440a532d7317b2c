"""Numerical building blocks shared by the learners: training, kernels, kernel ridge regression,
cost estimates and kernel dynamics.

They import only the plugin contract (`ntkbench.api`) and `nt_compat`. Most import jax; nothing
in the CLI's fast paths imports them. Plugins reach them through `ntkbench.kernels` and
`ntkbench.training`.
"""
