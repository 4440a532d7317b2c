"""Built-in learner plugins (registered under the `ntkbench.learners` entry-point group)."""
