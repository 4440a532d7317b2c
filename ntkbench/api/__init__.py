"""The plugin contract: what datasets, architectures and learners subclass, receive and return.

A plugin is a class registered under an entry point in one of the groups `ntkbench.datasets`,
`ntkbench.architectures`, `ntkbench.learners` (and `ntkbench.trackers` for a `Tracker`, which a
run logs to rather than a spec naming it). It declares its spec options as a Pydantic model
(`Options`), is constructed with the validated options, and implements the one or two methods
its kind needs. The built-in plugins use exactly this API and register exactly this way.

Nothing here imports a numerical library beyond NumPy, so that `ntkbench validate` and
`ntkbench list` stay fast: plugins import jax and friends inside their methods. Everything here
is re-exported by `ntkbench` itself.
"""

from ._architecture import MAX_PARAMETERS as MAX_PARAMETERS
from ._architecture import Architecture as Architecture
from ._architecture import StatefulModel as StatefulModel
from ._architecture import StaxTwin as StaxTwin
from ._costs import CellCost as CellCost
from ._costs import CostContext as CostContext
from ._data import Dataset as Dataset
from ._data import LabelledData as LabelledData
from ._errors import CellFailure as CellFailure
from ._errors import DataUnavailable as DataUnavailable
from ._errors import EnvironmentProblem as EnvironmentProblem
from ._errors import InputError as InputError
from ._errors import NtkbenchError as NtkbenchError
from ._errors import RunFailure as RunFailure
from ._errors import SpecError as SpecError
from ._errors import SpecProblem as SpecProblem
from ._fingerprints import installed_version as installed_version
from ._fingerprints import source_fingerprint as source_fingerprint
from ._kernel_store import KernelStore as KernelStore
from ._kernel_store import StoredKernel as StoredKernel
from ._kernel_store import TileTally as TileTally
from ._kernel_store import kernel_identity as kernel_identity
from ._learner import Learner as Learner
from ._learner import TestLoss as TestLoss
from ._memory import BUDGET_VARIABLE as BUDGET_VARIABLE
from ._memory import format_bytes as format_bytes
from ._memory import memory_budget as memory_budget
from ._memory import parse_bytes as parse_bytes
from ._options import RIDGE_GRID as RIDGE_GRID
from ._options import ArchitectureOptions as ArchitectureOptions
from ._options import DatasetOptions as DatasetOptions
from ._options import KernelRidgeOptions as KernelRidgeOptions
from ._options import LearnerOptions as LearnerOptions
from ._options import PluginOptions as PluginOptions
from ._options import StrictModel as StrictModel
from ._training_options import AdamOptions as AdamOptions
from ._training_options import SGDOptions as SGDOptions
from ._training_options import StoppingRule as StoppingRule
from ._training_options import TrainingOptions as TrainingOptions
from ._registry import API_VERSION as API_VERSION
from ._registry import ENTRY_POINT_GROUPS as ENTRY_POINT_GROUPS
from ._registry import LOCAL_DISTRIBUTION as LOCAL_DISTRIBUTION
from ._registry import PluginEntry as PluginEntry
from ._registry import PluginKind as PluginKind
from ._registry import PluginLoadError as PluginLoadError
from ._registry import load_all as load_all
from ._registry import load_local as load_local
from ._registry import plugin_source as plugin_source
from ._registry import local_origin as local_origin
from ._registry import registered as registered
from ._storage import DataFile as DataFile
from ._storage import FileStore as FileStore
from ._storage import cache_root as cache_root
from ._storage import data_root as data_root
from ._storage import verify_file as verify_file
from ._task import AcrossSeeds as AcrossSeeds
from ._task import ArtifactCache as ArtifactCache
from ._task import DynamicsRequest as DynamicsRequest
from ._task import LearnerResult as LearnerResult
from ._task import LearnerTask as LearnerTask
from ._task import RegressionKernel as RegressionKernel
from ._tracker import TRACKER_GROUP as TRACKER_GROUP
from ._tracker import Axis as Axis
from ._tracker import Tracker as Tracker
