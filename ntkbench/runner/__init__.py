"""Running a spec: the samples each cell sees, the work of one cell (the same under every executor),
writing its record (through `ntkbench.storage`), the local and Ray executors, the spectra, and the
plan of what a run will cost."""

from ._accelerators import ACCELERATORS as ACCELERATORS
from ._accelerators import Accelerator as Accelerator
from ._accelerators import accelerator as accelerator
from ._checks import dataset_problems as dataset_problems
from ._checks import plugin_origin as plugin_origin
from ._checks import prediction_problem as prediction_problem
from ._groups import cell_groups as cell_groups
from ._plan import CellPlan as CellPlan
from ._plan import RecordedFacts as RecordedFacts
from ._plan import budget_refusal as budget_refusal
from ._plan import over_budget as over_budget
from ._plan import plan_spec as plan_spec
from ._plan import plan_spectra as plan_spectra
from ._plan import recorded_facts as recorded_facts
from ._plan import refuse_over_budget as refuse_over_budget
from ._plan_table import PlanRow as PlanRow
from ._plan_table import PlanTable as PlanTable
from ._plan_table import plan_table as plan_table
from ._ray import import_ray as import_ray
from ._record_writer import RecordWriter as RecordWriter
from ._resources import calibration as calibration
from ._runner import RunSummary as RunSummary
from ._runner import run_spec as run_spec
from ._sampling import SeedSampler as SeedSampler
from ._spectrum_work import SpectraSummary as SpectraSummary
from ._sampling import balanced_test_indices as balanced_test_indices
from ._sampling import training_order as training_order
