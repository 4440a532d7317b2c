"""From records to exponents: the scaling laws fitted to each learner's curve, and the paired
comparison of the learners of one spec, with jointly computed (jackknife) intervals."""

from ._compare import Comparison as Comparison
from ._compare import Curve as Curve
from ._compare import Interval as Interval
from ._compare import LearnerFit as LearnerFit
from ._compare import SpecComparison as SpecComparison
from ._compare import compare as compare
from ._compare import robust_verdict as robust_verdict
from ._compare import verdict as verdict
from ._laws import MODELS as MODELS
from ._laws import fit_power_law as fit_power_law
from ._laws import fit_saturating as fit_saturating
from ._laws import held_out_errors as held_out_errors
