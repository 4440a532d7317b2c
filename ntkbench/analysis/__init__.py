"""From records to exponents: a results directory's records collected into curves (`summarize`),
the scaling laws fitted to each learner's curve, the paired comparison of the learners of one
spec, with jointly computed (jackknife) intervals, the verdicts those intervals give, the
paper's three claims as the data bear on them, and what each kernel's spectrum predicts against
what it measured."""

from ._compare import Comparison as Comparison
from ._compare import Curve as Curve
from ._compare import LearnerFit as LearnerFit
from ._compare import SpecComparison as SpecComparison
from ._compare import compare as compare
from ._intervals import DECISIVE as DECISIVE
from ._intervals import SEPARATED as SEPARATED
from ._intervals import DEFAULT_MARGIN as DEFAULT_MARGIN
from ._intervals import Interval as Interval
from ._intervals import Spread as Spread
from ._intervals import Verdict as Verdict
from ._intervals import verdict as verdict
from ._laws import MODELS as MODELS
from ._laws import better_law as better_law
from ._laws import fit_power_law as fit_power_law
from ._laws import fit_saturating as fit_saturating
from ._laws import held_out_errors as held_out_errors
from ._verdicts import Decision as Decision
from ._verdicts import FitKey as FitKey
from ._verdicts import WouldDecide as WouldDecide
from ._verdicts import decide as decide
from ._verdicts import fit_label as fit_label
from ._verdicts import would_decide as would_decide
from ._spectral_predictions import CellOutcome as CellOutcome
from ._spectral_predictions import SpectralCurve as SpectralCurve
from ._spectral_predictions import SpectralPoint as SpectralPoint
from ._spectral_predictions import spectral_curves as spectral_curves
from ._spectral_predictions import spectral_points as spectral_points
from ._collect import SpecSummary as SpecSummary
from ._collect import TrainingCurve as TrainingCurve
from ._collect import TrainingFacts as TrainingFacts
from ._collect import stored_curves as stored_curves
from ._collect import training_curves as training_curves
from ._collect import dynamics_by_seed as dynamics_by_seed
from ._collect import dynamics_table as dynamics_table
from ._collect import same_at_every_width as same_at_every_width
from ._collect import WidthGroup as WidthGroup
from ._collect import load_results as load_results
from ._collect import summarize as summarize
from ._claims import STATEMENTS as STATEMENTS
from ._claims import Claim as Claim
from ._claims import spec_claims as spec_claims
