"""ntkbench: declarative benchmarks of data-scaling exponents, finite networks against their NTKs.

The public API for plugin authors (`ntkbench.api`, re-exported here) and for scripting runs:
`ntkbench.run(spec)` computes a spec and returns its `Results`; `ntkbench.plan(spec)` returns the
table `ntkbench plan` prints; `ntkbench.load_records(dir)` reads a results directory as a pandas
DataFrame. Importing this package imports neither jax, scipy nor pandas: the numerical modules
load when a run needs them, and the fitting, report and results functions (`compare`,
`fit_power_law`, `fit_saturating`, `Curve`, `write_leaderboard`, `run`, `plan`, `Results`,
`load_records`, `export_records`) when first used.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version
from typing import Any as _Any

from .api import API_VERSION as API_VERSION
from .api import RIDGE_GRID as RIDGE_GRID
from .api import AcrossSeeds as AcrossSeeds
from .api import Architecture as Architecture
from .api import ArchitectureOptions as ArchitectureOptions
from .api import ArtifactCache as ArtifactCache
from .api import CellCost as CellCost
from .api import CellFailure as CellFailure
from .api import CostContext as CostContext
from .api import DataFile as DataFile
from .api import Dataset as Dataset
from .api import DatasetOptions as DatasetOptions
from .api import DataUnavailable as DataUnavailable
from .api import DynamicsRequest as DynamicsRequest
from .api import FileStore as FileStore
from .api import InputError as InputError
from .api import KernelRidgeOptions as KernelRidgeOptions
from .api import LabelledData as LabelledData
from .api import Learner as Learner
from .api import LearnerOptions as LearnerOptions
from .api import LearnerResult as LearnerResult
from .api import LearnerTask as LearnerTask
from .api import NtkbenchError as NtkbenchError
from .api import RegressionKernel as RegressionKernel
from .api import Tracker as Tracker
from .api import SpecError as SpecError
from .api import StatefulModel as StatefulModel
from .api import StaxTwin as StaxTwin
from .runner import run_spec as run_spec
from .spec import Spec as Spec
from .spec import load_spec as load_spec
from .spec import parse_spec as parse_spec

_ANALYSIS = {"Curve", "compare", "fit_power_law", "fit_saturating"}
_REPORT = {"write_leaderboard"}
_RESULTS = {"Results", "export_records", "load_records", "plan", "run"}


def __getattr__(name: str) -> _Any:
    """The fitting and report functions, imported on first use (they import scipy and matplotlib's
    dependencies, which `ntkbench validate` and `ntkbench list` do not need)."""
    if name in _ANALYSIS:
        from . import analysis

        return getattr(analysis, name)
    if name in _REPORT:
        from . import report

        return getattr(report, name)
    if name in _RESULTS:
        from . import results

        return getattr(results, name)
    raise AttributeError(f"module 'ntkbench' has no attribute {name!r}")


try:
    __version__ = _version("ntkbench")
except _PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "API_VERSION",
    "RIDGE_GRID",
    "AcrossSeeds",
    "Architecture",
    "ArchitectureOptions",
    "ArtifactCache",
    "CellCost",
    "CellFailure",
    "CostContext",
    "DataFile",
    "Dataset",
    "DatasetOptions",
    "DataUnavailable",
    "DynamicsRequest",
    "FileStore",
    "InputError",
    "KernelRidgeOptions",
    "LabelledData",
    "Learner",
    "LearnerOptions",
    "LearnerResult",
    "LearnerTask",
    "NtkbenchError",
    "RegressionKernel",
    "Tracker",
    "SpecError",
    "StatefulModel",
    "StaxTwin",
    "run_spec",
    "Spec",
    "load_spec",
    "parse_spec",
    *sorted(_ANALYSIS | _REPORT | _RESULTS),
]
