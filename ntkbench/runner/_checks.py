"""The plugin contract checked on what plugins return, so that a broken plugin is blamed by name
before the cells it would spoil: a dataset's arrays when they are loaded, a learner's predictions
when a cell returns them."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..api import Dataset, LabelledData


def plugin_file(plugin: type) -> str | None:
    """The source file of a plugin class, when it has one."""
    try:
        return inspect.getsourcefile(plugin)
    except TypeError:
        return None


def plugin_origin(plugin: type) -> str:
    """`name (file:line)` of a plugin class, for messages that blame it."""
    try:
        return f"{plugin.__qualname__} ({inspect.getsourcefile(plugin)}:{inspect.getsourcelines(plugin)[1]})"
    except (OSError, TypeError):
        return f"{plugin.__module__}.{plugin.__qualname__}"


def dataset_problems(dataset: Dataset, data: Any) -> list[str]:
    """What is wrong with the arrays `dataset.load()` returned: the type, dtypes, shapes that
    disagree with each other or with `input_shape()` and `pool_size()`, non-finite inputs, labels
    outside `[0, num_classes)`. Empty when nothing is."""
    if not isinstance(data, LabelledData):
        return [f"load() returned {type(data).__name__}, not ntkbench.LabelledData"]
    problems = []
    if not isinstance(data.num_classes, int | np.integer) or data.num_classes < 2:
        problems.append(f"num_classes is {data.num_classes!r}; a classification dataset has at least 2")
    for split in ("pool", "test"):
        x, y = np.asarray(getattr(data, f"x_{split}")), np.asarray(getattr(data, f"y_{split}"))
        if x.ndim < 2 or len(x) == 0:
            problems.append(f"x_{split} has shape {x.shape}; expected (samples, *input_shape) with at least one sample")
            continue
        if x.dtype != np.float32:
            problems.append(f"x_{split} has dtype {x.dtype}; inputs are float32")
        if y.shape != (len(x),):
            problems.append(f"y_{split} has shape {y.shape}; expected ({len(x)},), one label per input of x_{split}")
        elif not np.issubdtype(y.dtype, np.integer):
            problems.append(f"y_{split} has dtype {y.dtype}; labels are integers")
        elif len(y) and (y.min() < 0 or (isinstance(data.num_classes, int | np.integer) and y.max() >= data.num_classes)):
            problems.append(f"y_{split} holds labels from {y.min()} to {y.max()}; expected 0 to num_classes - 1 = {data.num_classes - 1}")
        if np.issubdtype(x.dtype, np.floating):
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            if bad:
                rows = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
                problems.append(f"x_{split} has {bad} non-finite value(s) (NaN or inf), in {len(rows)} input(s), the first at index {rows[0]}")
    if problems:
        return problems
    if data.x_pool.shape[1:] != data.x_test.shape[1:]:
        problems.append(f"x_pool inputs have shape {data.x_pool.shape[1:]} but x_test inputs {data.x_test.shape[1:]}")
    declared = dataset.input_shape()
    if declared is not None and tuple(declared) != data.x_pool.shape[1:]:
        problems.append(f"input_shape() says {tuple(declared)} but the inputs have shape {data.x_pool.shape[1:]}")
    pool = dataset.pool_size()
    if pool is not None and pool != len(data.x_pool):
        problems.append(f"pool_size() says {pool} but x_pool has {len(data.x_pool)} samples")
    classes = dataset.num_classes()
    if classes is not None and classes != data.num_classes:
        problems.append(f"num_classes() says {classes} but the data have num_classes={data.num_classes}")
    return problems


def prediction_problem(predictions: Any, n_test: int, num_classes: int) -> str | None:
    """Why `predictions` break the learner contract (`(n_test, num_classes)`, numbers), or None. Non-finite
    values are not a contract violation (a diverging network); the runner reports them apart."""
    try:
        array = np.asarray(predictions, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"predictions are not an array of numbers ({error})"
    if array.shape != (n_test, num_classes):
        return f"predictions have shape {array.shape}; expected (n_test, num_classes) = {(n_test, num_classes)}"
    return None
