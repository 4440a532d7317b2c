"""Built-in architecture plugins (registered under the `ntkbench.architectures` entry-point group)."""
