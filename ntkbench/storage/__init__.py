"""What a run leaves on disk and how it is read back: the cells of a spec and their keys, the
records (one checksummed JSON file per cell), the spectra beside them, kernels tile by tile, what code and machine
computed them, atomic writes and the locks that let several processes share a results directory.
The runner writes through it; analysis, the report, the results API and the CLI read through it."""

from ._atomic import STALE_TEMPORARY_SECONDS as STALE_TEMPORARY_SECONDS
from ._atomic import exclusive_lock as exclusive_lock
from ._atomic import remove_stale_temporaries as remove_stale_temporaries
from ._atomic import write_atomically as write_atomically
from ._atomic import write_json_atomically as write_json_atomically
from ._cells import Cell as Cell
from ._kernel_tiles import KERNEL_STORE_DIR as KERNEL_STORE_DIR
from ._kernel_tiles import KernelEvaluation as KernelEvaluation
from ._kernel_tiles import StoredKernelSummary as StoredKernelSummary
from ._kernel_tiles import TileDirectory as TileDirectory
from ._kernel_tiles import store_disk_bytes as store_disk_bytes
from ._kernel_tiles import stored_kernels as stored_kernels
from ._cells import architecture_at as architecture_at
from ._cells import cell_key as cell_key
from ._cells import cells_of as cells_of
from ._cells import widths_of as widths_of
from ._outcomes import decode_outcomes as decode_outcomes
from ._outcomes import encode_outcomes as encode_outcomes
from ._provenance import ProvenanceSummary as ProvenanceSummary
from ._provenance import describe_code as describe_code
from ._provenance import device_info as device_info
from ._provenance import library_versions as library_versions
from ._provenance import machine_info as machine_info
from ._provenance import recorded_code as recorded_code
from ._provenance import run_facts as run_facts
from ._provenance import same_code as same_code
from ._provenance import source_of as source_of
from ._provenance import spec_code as spec_code
from ._provenance import summarize_provenance as summarize_provenance
from ._record_store import RECORD_FORMAT as RECORD_FORMAT
from ._record_store import SPEC_FILE as SPEC_FILE
from ._record_store import Record as Record
from ._record_store import RecordStore as RecordStore
from ._record_store import StoredRecords as StoredRecords
from ._record_store import read_record as read_record
from ._spectrum_files import SPECTRA_DIR as SPECTRA_DIR
from ._spectrum_files import StoredSpectrum as StoredSpectrum
from ._spectrum_files import load_spectra as load_spectra
from ._spectrum_files import read_spectrum as read_spectrum
from ._spectrum_files import spectrum_key as spectrum_key
from ._spectrum_files import spectrum_path as spectrum_path
from ._spectrum_files import write_spectrum as write_spectrum
