"""From records to exponents: the scaling laws fitted to each learner's curve, the paired
comparison of the learners of one spec, with jointly computed (jackknife) intervals, the
verdicts those intervals give, and what each kernel's spectrum predicts against what it measured."""

from ._compare import Comparison as Comparison
from ._compare import Curve as Curve
from ._compare import LearnerFit as LearnerFit
from ._compare import SpecComparison as SpecComparison
from ._compare import compare as compare
from ._intervals import DECISIVE as DECISIVE
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
from ._spectra import CellOutcome as CellOutcome
from ._spectra import SpectralCurve as SpectralCurve
from ._spectra import SpectralPoint as SpectralPoint
from ._spectra import spectral_curves as spectral_curves
from ._spectra import spectral_points as spectral_points
