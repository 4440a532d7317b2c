"""Built-in dataset plugins (registered under the `ntkbench.datasets` entry-point group)."""
