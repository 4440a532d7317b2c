"""The spec: a YAML file naming a dataset, an architecture, learners, a sweep and a fit, validated
into a `Spec` whose plugins are resolved to their classes and options.

Validation runs in two phases. The core fields are checked by `SpecModel`; each plugin section
(`dataset`, `architecture`, every learner) is then checked by the options model its plugin
declares; then the rules that involve several sections (`_rules.py`) run.
"""

from ._models import DEFAULT_MARGIN as DEFAULT_MARGIN
from ._models import DEFAULT_REFERENCE as DEFAULT_REFERENCE
from ._models import PERFORMANCE_ONLY as PERFORMANCE_ONLY
from ._models import DynamicsSpec as DynamicsSpec
from ._models import LearnerChoice as LearnerChoice
from ._models import PluginChoice as PluginChoice
from ._models import Spec as Spec
from ._models import content_hash as content_hash
from ._parse import load_spec as load_spec
from ._parse import parse_spec as parse_spec
from ._pilot import PILOT_SEEDS as PILOT_SEEDS
from ._pilot import pilot_command as pilot_command
from ._rules import pool_problem as pool_problem
from ._schema import spec_json_schema as spec_json_schema
from ._yaml import suggest as suggest
