"""Plugins used by the tests, registered through a temporary dist-info (see conftest.py).

They exercise the plugin API from outside the ntkbench package, as a third party would.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import PositiveInt

import ntkbench
from ntkbench.architectures.mlp import MLPArchitecture, MLPOptions


class BlobsOptions(ntkbench.DatasetOptions):
    n_test: PositiveInt = 60
    pool: PositiveInt = 512


class Blobs(ntkbench.Dataset):
    """Three well-separated Gaussian blobs as 4x4x1 images: tiny and fast."""

    Options = BlobsOptions
    api_version = 1

    def load(self) -> ntkbench.LabelledData:
        rng = np.random.default_rng(123)
        centres = rng.normal(size=(3, 4, 4, 1)).astype(np.float32) * 0.4

        def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
            labels = rng.integers(0, 3, size=count)
            noise = rng.normal(size=(count, 4, 4, 1)).astype(np.float32)
            return (centres[labels] + noise).astype(np.float32), labels.astype(np.int32)

        x_pool, y_pool = draw(self.options.pool)
        x_test, y_test = draw(600)
        return ntkbench.LabelledData(x_pool, y_pool, x_test, y_test, num_classes=3)


class Twinless(ntkbench.Architecture):
    """An architecture without an infinite-width twin (only its validation behaviour matters)."""

    api_version = 1

    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        raise NotImplementedError


class AlwaysFails(ntkbench.Learner):
    """A learner whose every cell fails, as a diverging network would."""

    api_version = 1

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        raise ntkbench.CellFailure(f"deliberate failure at n={task.n_train}")


class MeanClassifier(ntkbench.Learner):
    """Nearest class mean: a cheap learner whose error falls with n."""

    api_version = 1

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        x = task.x_train.reshape(task.n_train, -1)
        means = np.stack(
            [x[task.y_train == c].mean(axis=0) if (task.y_train == c).any() else np.zeros(x.shape[1])
             for c in range(task.num_classes)]
        )
        test = task.x_test.reshape(len(task.x_test), -1)
        logits = -0.5 * ((test[:, None, :] - means[None]) ** 2).sum(-1)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        return ntkbench.LearnerResult(predictions=probabilities / probabilities.sum(axis=1, keepdims=True))


class NotAPlugin:
    """Registered as a learner but not a subclass of ntkbench.Learner."""


class FromTheFuture(ntkbench.Learner):
    """Written for a plugin API this ntkbench does not provide."""

    api_version = 99

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        raise NotImplementedError


class SlowOptions(ntkbench.LearnerOptions):
    seconds: float = 0.3
    log: str = ""
    """Where to log each computation (default: $NTKBENCH_TEST_LOG; a Ray worker of a shared head
    sees only the head's environment)."""
    gate: str = ""
    """A file every computation waits for, after appending its process id to `<gate>.waiting`: a
    test opens it once the processes it expects are all inside a cell."""


class SlowMean(MeanClassifier):
    """The nearest-class-mean learner, slowed down, logging every computation (pid, n, seed)."""

    Options = SlowOptions

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        import os
        import time

        if self.options.gate:
            with open(self.options.gate + ".waiting", "a") as waiting:
                waiting.write(f"{os.getpid()}\n")
            deadline = time.monotonic() + 120
            while not os.path.exists(self.options.gate) and time.monotonic() < deadline:
                time.sleep(0.02)
        time.sleep(self.options.seconds)
        with open(self.options.log or os.environ["NTKBENCH_TEST_LOG"], "a") as log:
            log.write(f"{os.getpid()} {task.n_train} {task.seed}\n")
        return super().fit_predict(task)


class CrashOptions(SlowOptions):
    crash_seed: int = 0
    crash_n: int = 0


class CrashesItsProcess(SlowMean):
    """`slow_mean` that kills its own process (as the OOM killer would) at one (seed, n)."""

    Options = CrashOptions

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        import os
        import signal

        if (task.seed, task.n_train) == (self.options.crash_seed, self.options.crash_n):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit_predict(task)


class TunedMLPOptions(MLPOptions):
    performance_only: ClassVar[frozenset[str]] = frozenset({"unroll"})

    unroll: PositiveInt = 1
    """How the network would be compiled: changes the speed, never the result."""


class TunedMLP(MLPArchitecture):
    """The built-in MLP with a performance-only option, as an architecture plugin may declare one."""

    Options = TunedMLPOptions
    api_version = 1


class FullDiskTracker(ntkbench.Tracker):
    """A tracker whose disk fills up at its second call (after `start`): every call is counted in
    `FullDiskTracker.calls`, so a test sees that nothing was called after the failure."""

    calls: ClassVar[list[str]] = []

    def start(self, config):
        self.calls.append("start")

    def log(self, values, *, step, axis):
        self.calls.append("log")
        raise OSError(28, "No space left on device")

    def log_summary(self, values):
        self.calls.append("log_summary")

    def log_artifacts(self, paths):
        self.calls.append("log_artifacts")

    def finish(self, *, failed):
        self.calls.append("finish")


class HangingTracker(FullDiskTracker):
    """A tracker whose server never answers: every call after `start` waits for an hour."""

    def log(self, values, *, step, axis):
        import time

        self.calls.append("log")
        time.sleep(3600)
