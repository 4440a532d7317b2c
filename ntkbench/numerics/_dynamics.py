"""Kernel dynamics: how the empirical NTK moves while the network trains.

At checkpoints log-spaced in steps (or after every epoch), on a fixed probe set of test inputs,
the empirical NTK is taken and compared with the initial and the final one by the kernel
distance 1 - <K1, K2>_F / (||K1||_F ||K2||_F) (0 for kernels equal up to scale). Also recorded:
the kernel velocity (distance between consecutive checkpoints per step), the test error of
kernel ridge regression with the checkpoint's kernel on the training set (the "after kernel"),
and the network's own test error. One record per seed holds the whole trajectory.
"""

from __future__ import annotations

import numpy as np

from ..api import DynamicsRequest, InputError, LearnerResult, LearnerTask
from ..api import TrainingOptions

SETTLED = 0.1
"""The kernel has settled when its distance to the final kernel first falls below this fraction
of the distance at initialisation."""


def kernel_distance(k1: np.ndarray, k2: np.ndarray) -> float:
    """1 - cosine similarity of two kernel matrices: 0 when they are equal up to scale.

    >>> kernel_distance(np.eye(2), 3 * np.eye(2))
    0.0
    """
    k1, k2 = np.asarray(k1, dtype=np.float64), np.asarray(k2, dtype=np.float64)
    return float(max(0.0, 1.0 - np.sum(k1 * k2) / (np.linalg.norm(k1) * np.linalg.norm(k2))))


def settling_fraction(fractions: list[float], distances_to_final: list[float]) -> float | None:
    """The fraction of training at which the distance to the final kernel first falls below
    `SETTLED` times its initial value (None if it never does before the end)."""
    threshold = SETTLED * distances_to_final[0]
    for fraction, distance in zip(fractions[:-1], distances_to_final[:-1], strict=True):
        if distance < threshold:
            return fraction
    return None


def kernel_trajectory(task: LearnerTask, options: TrainingOptions, request: DynamicsRequest) -> LearnerResult:
    """Train the network of `task` with `options` and follow its empirical NTK at the checkpoints of `request`.

    Returns the trained network's test predictions, with the trajectory in `info`.
    """
    from ._kernel_ridge import kernel_ridge_predict, one_hot
    from ._kernels import default_implementation, empirical_ntk_fn, empirical_ntk_key, evaluate_tiled, tile_edge, tile_size
    from ._prediction import predict
    from ._training import train_network

    x_probe = request.x_probe

    if options.learning_rates() is not None:
        raise InputError("a dynamics spec follows one training: give its learner one learning rate")
    if options.patience is not None:
        raise InputError("a dynamics spec follows training over a fixed budget: leave out `patience`")
    if options.until is not None:
        raise InputError("a dynamics spec follows training over a fixed budget: give its learner `steps` or `epochs`, not `until`")
    budget = options.step_budget(task.n_train)
    initial = task.init_model()
    longest = tile_size(max(len(task.x_train), len(task.x_test), len(x_probe)))
    implementation = default_implementation(initial)
    edge = tile_edge(empirical_ntk_fn(initial, implementation), task.x_train.shape[1:],
                     key=empirical_ntk_key(initial, implementation), at_most=longest)  # every checkpoint's kernel costs the same
    steps = request.checkpoint_steps(budget, task.n_train, options.batch_size)
    kernels, rows = [], []
    targets = one_hot(task.y_train, task.num_classes)

    def record(step: int, network) -> None:
        kernel = empirical_ntk_fn(network, implementation)
        kernels.append(evaluate_tiled(kernel, x_probe, max_tile=edge))
        after = kernel_ridge_predict(
            evaluate_tiled(kernel, task.x_train, max_tile=edge),
            evaluate_tiled(kernel, task.x_test, task.x_train, max_tile=edge),
            targets,
            1e-6,
        ).predictions
        outputs = predict(network, task.x_test, initial=initial if options.center else None)
        rows.append(
            {
                "step": step,
                "fraction": step / budget,
                "after_kernel_test_error": request.test_error(after),
                "network_test_error": request.test_error(outputs),
            }
        )

    trained, log = train_network(
        initial, task.x_train, task.y_train, task.num_classes, options, seed=task.seed,
        checkpoints=steps, on_checkpoint=record,
    )
    for index, row in enumerate(rows):
        row["distance_to_init"] = kernel_distance(kernels[index], kernels[0])
        row["distance_to_final"] = kernel_distance(kernels[index], kernels[-1])
        row["velocity"] = (
            kernel_distance(kernels[index], kernels[index - 1]) / (row["step"] - rows[index - 1]["step"]) if index else 0.0
        )
    settled = settling_fraction([r["fraction"] for r in rows], [r["distance_to_final"] for r in rows])
    return LearnerResult(
        predictions=predict(trained, task.x_test, initial=initial if options.center else None),
        info={"checkpoints": rows, "settled_fraction": settled, **log.summary()},
    )
