"""Running a spec: its cells, the samples each sees, the work of one cell (the same under every
executor), the records, the local and Ray executors, and the plan of what a run will cost."""

from ._cells import Cell as Cell
from ._cells import cell_key as cell_key
from ._cells import cells_of as cells_of
from ._cells import widths_of as widths_of
from ._checks import dataset_problems as dataset_problems
from ._checks import plugin_origin as plugin_origin
from ._checks import prediction_problem as prediction_problem
from ._groups import cell_groups as cell_groups
from ._metrics import decode_outcomes as decode_outcomes
from ._plan import CellPlan as CellPlan
from ._plan import RecordedFacts as RecordedFacts
from ._plan import budget_refusal as budget_refusal
from ._plan import over_budget as over_budget
from ._plan import plan_spec as plan_spec
from ._plan import recorded_facts as recorded_facts
from ._plan import refuse_over_budget as refuse_over_budget
from ._provenance import describe_code as describe_code
from ._provenance import library_versions as library_versions
from ._provenance import source_of as source_of
from ._ray import import_ray as import_ray
from ._records import SPEC_FILE as SPEC_FILE
from ._records import Record as Record
from ._records import RecordStore as RecordStore
from ._records import StoredRecords as StoredRecords
from ._records import write_atomically as write_atomically
from ._records import write_json_atomically as write_json_atomically
from ._resources import calibration as calibration
from ._runner import RunSummary as RunSummary
from ._runner import run_spec as run_spec
from ._sampling import SeedSampler as SeedSampler
from ._spectra import SpectraSummary as SpectraSummary
from ._spectra import StoredSpectrum as StoredSpectrum
from ._spectra import load_spectra as load_spectra
from ._sampling import balanced_test_indices as balanced_test_indices
from ._sampling import training_order as training_order
