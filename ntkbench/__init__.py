"""ntkbench: declarative benchmarks of data-scaling exponents, finite networks against their NTKs.

The public API for plugin authors and for scripting runs. Importing this package does not
import jax; the numerical modules load when a run needs them.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from ._errors import CellFailure as CellFailure
from ._errors import DataUnavailable as DataUnavailable
from ._errors import InputError as InputError
from ._errors import NtkbenchError as NtkbenchError
from ._errors import SpecError as SpecError
from ._compare import Curve as Curve
from ._compare import compare as compare
from ._fit import fit_power_law as fit_power_law
from ._fit import fit_saturating as fit_saturating
from ._leaderboard import write_leaderboard as write_leaderboard
from ._plugins import API_VERSION as API_VERSION
from ._plugins import AcrossSeeds as AcrossSeeds
from ._plugins import Architecture as Architecture
from ._plugins import ArchitectureOptions as ArchitectureOptions
from ._plugins import ArtifactCache as ArtifactCache
from ._plugins import Dataset as Dataset
from ._plugins import DatasetOptions as DatasetOptions
from ._plugins import LabelledData as LabelledData
from ._plugins import Learner as Learner
from ._plugins import LearnerOptions as LearnerOptions
from ._plugins import LearnerResult as LearnerResult
from ._plugins import LearnerTask as LearnerTask
from ._plugins import StatefulModel as StatefulModel
from ._plugins import StaxTwin as StaxTwin
from ._runner import run_spec as run_spec
from ._spec import Spec as Spec
from ._spec import load_spec as load_spec
from ._spec import parse_spec as parse_spec

try:
    __version__ = _version("ntkbench")
except _PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
