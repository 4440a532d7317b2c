"""Logging a run to the experiment trackers researchers already use: TensorBoard, MLflow and Weights
& Biases built in, any other through the entry-point group `ntkbench.trackers` (`ntkbench.Tracker`).

records -> run log -> trackers. `load_trackers` finds the trackers a run names; a `RunLog` sends
them the spec, every record's metrics and training curve, the fits and verdicts, and the
leaderboard's files, each tracker in a thread of its own so that one that fails or hangs warns
once and never stops or slows the run.
"""

from ._registry import TRACKER_GROUP as TRACKER_GROUP
from ._registry import load_trackers as load_trackers
from ._registry import tracker_names as tracker_names
from ._run_log import FINISH_SECONDS as FINISH_SECONDS
from ._run_log import RunLog as RunLog
from ._run_log import TrackerWarning as TrackerWarning
from ._run_log import open_run_log as open_run_log
from ._run_log import record_values as record_values
from ._run_log import summary_values as summary_values

__all__ = [
    "FINISH_SECONDS",
    "TRACKER_GROUP",
    "RunLog",
    "TrackerWarning",
    "load_trackers",
    "open_run_log",
    "record_values",
    "summary_values",
    "tracker_names",
]
