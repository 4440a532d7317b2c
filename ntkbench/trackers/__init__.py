"""The built-in trackers (entry-point group `ntkbench.trackers`): TensorBoard, MLflow and Weights &
Biases, each an optional extra of ntkbench. They use only the public `ntkbench.Tracker` API."""
