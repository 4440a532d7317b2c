"""Results as data: a results directory's records, fits and spectral predictions as pandas DataFrames, their export to
CSV, parquet or JSON Lines, `run`, which computes a spec from Python and returns them, and the
sizing of a study from a pilot (`size_study`)."""

from ._export import FORMATS as FORMATS
from ._export import export_records as export_records
from ._fits import fits_frame as fits_frame
from ._record_frames import load_records as load_records
from ._record_frames import records_frame as records_frame
from ._session import Results as Results
from ._session import SpecLike as SpecLike
from ._session import as_spec as as_spec
from ._session import plan as plan
from ._session import run as run
from ._sizing import Sizing as Sizing
from ..spec import pilot_command as pilot_command
from ._sizing import size_study as size_study
from ._sizing import sizing_text as sizing_text
from ._spectrum_frames import spectra_frame as spectra_frame
