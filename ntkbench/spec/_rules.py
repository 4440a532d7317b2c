"""The rules that involve more than one section of a spec, one function each.

Each rule looks at the validated core fields and the resolved plugin sections (None where a
section failed its own validation, which was reported already) and yields `(key path, reason)`
for every problem it finds.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator

from ..api import MAX_PARAMETERS, Architecture, load_all
from ..nt_compat import INSTALL_HINT, neural_tangents_installed
from ._models import SPECTRUM_POOL_PER_N, LearnerChoice, PluginChoice, SpecModel, content_hash
from ._yaml import Path_, ProblemCollector

Problems = Iterator[tuple[Path_, str]]


@dataclasses.dataclass(frozen=True)
class Sections:
    """What the rules look at: the core fields and the plugin sections that resolved."""

    core: SpecModel
    dataset: PluginChoice | None
    architecture: PluginChoice | None
    learners: list[LearnerChoice]

    @property
    def n_train(self) -> list[int] | None:
        """The sweep's sizes (a dynamics spec's one size); None when neither is given."""
        if self.core.sweep.n_train is not None:
            return self.core.sweep.n_train
        return [self.core.dynamics.train_n] if self.core.dynamics is not None else None

    @functools.cached_property
    def network(self) -> Architecture | None:
        return self.architecture.instantiate() if self.architecture is not None else None

    def learner_path(self, learner: LearnerChoice) -> Path_:
        """Where a resolved learner's `name` sits in the spec (learners that failed to resolve are not
        in `learners`, so its position there is not its index in the spec)."""
        ids = [section.id or section.name for section in self.core.learners]
        return ("learners", len(ids) - 1 - ids[::-1].index(learner.id), "name")


def pool_problem(
    n_train_max: int, held_out: int, holder: str, dataset: str, pool: int, validation_n: int = 0, spectrum_pool: int = 0
) -> str | None:
    """Why the largest training set, plus the validation samples, the spectrum's pool and the samples
    a learner holds out, does not fit the pool."""
    if n_train_max + validation_n + spectrum_pool + held_out <= pool:
        return None
    detail = f" plus the {validation_n} validation samples" if validation_n else ""
    detail += f" plus the spectrum's pool of {spectrum_pool}" if spectrum_pool else ""
    detail += f" plus the {held_out} samples learner {holder!r} holds out" if held_out else ""
    return (
        f"the largest n_train ({n_train_max}){detail} exceeds the {dataset} training pool with these "
        f"options ({pool} samples)"
    )


def sizes_are_given(sections: Sections) -> Problems:
    if sections.n_train is None:
        yield ("sweep", "n_train"), "required key is missing (only a spec with a `dynamics` section leaves it out)"


def dynamics_has_one_size(sections: Sections) -> Problems:
    core = sections.core
    if core.dynamics is not None and core.sweep.n_train not in (None, [core.dynamics.train_n]):
        yield ("sweep", "n_train"), "a dynamics spec trains on dynamics.train_n samples; leave sweep.n_train out"


def learner_ids_are_distinct(sections: Sections) -> Problems:
    ids = [section.id or section.name for section in sections.core.learners]
    for index, learner_id in enumerate(ids):
        if ids.index(learner_id) != index:
            key = "id" if sections.core.learners[index].id else "name"
            yield ("learners", index, key), f"learner id {learner_id!r} is used twice; give one of them a distinct 'id'"


def learners_compute_different_results(sections: Sections) -> Problems:
    """Two learners that differ only in `id` or in performance-only options would share every cell's key."""
    seen: dict[str, LearnerChoice] = {}
    for learner in sections.learners:
        identity = content_hash(learner.result_dict())
        other = seen.get(identity)
        if other is not None and other.id != learner.id:  # the same id twice is reported as such
            skipped = sorted(name for name in type(learner.options).performance_only
                             if getattr(learner.options, name, None) != getattr(other.options, name, None))
            detail = f" and in performance-only options ({', '.join(skipped)})" if skipped else ""
            yield sections.learner_path(learner), (
                f"learners {other.id!r} and {learner.id!r} would compute the same results: they differ only in "
                f"their id{detail}; remove one"
            )
        else:
            seen[identity] = learner


def test_losses_are_one_quantity(sections: Sections) -> Problems:
    if sections.core.metric != "test_loss":
        return
    kinds: dict[str, list[str]] = {}
    for learner in sections.learners:
        kinds.setdefault(learner.instantiate().test_loss(), []).append(learner.id)
    if len(kinds) > 1:
        which = "; ".join(f"{kind}: {', '.join(ids)}" for kind, ids in sorted(kinds.items()))
        yield ("metric",), (
            f"test_loss is not the same quantity for every learner ({which}); rank by test_error, or give "
            "every learner the same loss"
        )


def sizes_fit_the_pool(sections: Sections) -> Problems:
    if sections.dataset is None or sections.n_train is None:
        return
    pool = sections.dataset.instantiate().pool_size()
    if pool is None:
        return
    held_out, holder = max(((learner.instantiate().held_out_samples(), learner.id) for learner in sections.learners),
                           default=(0, ""))
    spectrum = sections.core.spectrum
    problem = pool_problem(
        max(sections.n_train), held_out, holder, sections.dataset.name, pool, sections.dataset.options.validation_n,
        spectrum.pool if spectrum is not None else 0,
    )
    if problem is not None:
        yield ("sweep", "n_train"), problem


def validation_is_given(sections: Sections) -> Problems:
    if sections.dataset is None or sections.dataset.options.validation_n:
        return
    for learner in sections.learners:
        if learner.instantiate().needs_validation():
            yield sections.learner_path(learner), (
                f"learner {learner.id!r} chooses on validation data (from a list of ridges or learning rates, `ridge: auto`, or to stop early); "
                "set dataset.validation_n"
            )


def inputs_fit_the_architecture(sections: Sections) -> Problems:
    if sections.network is None or sections.dataset is None:
        return
    input_shape = sections.dataset.instantiate().input_shape()
    problem = sections.network.input_problem(tuple(input_shape)) if input_shape is not None else None
    if problem is not None:
        yield ("architecture", "name"), problem


def network_is_within_reason(sections: Sections) -> Problems:
    if sections.network is None or sections.dataset is None:
        return
    dataset = sections.dataset.instantiate()
    input_shape, num_classes = dataset.input_shape(), dataset.num_classes()
    if input_shape is None or num_classes is None:
        return
    widths = sections.core.sweep.width if sections.network.has_width() else None
    for network in [sections.network.at_width(width) for width in widths] if widths else [sections.network]:
        count = network.parameter_count(input_shape=tuple(input_shape), num_classes=num_classes)
        if count is not None and count > MAX_PARAMETERS:
            at = f" at width {network.options.width}" if widths else ""
            yield ("architecture",), (
                f"the network has {count:.3g} parameters{at} ({4 * count / 2**30:.3g} GiB of float32 weights alone); "
                f"ntkbench refuses more than {MAX_PARAMETERS:.3g}: lower its width or depth"
            )
            return


def learners_fit_the_architecture(sections: Sections) -> Problems:
    network, architecture = sections.network, sections.architecture
    if network is None:
        return
    for learner in sections.learners:
        path = sections.learner_path(learner)
        problem = learner.instantiate().architecture_problem(network)
        if problem is not None:
            yield path, problem
        if learner.plugin.needs_infinite_kernel and not network.has_infinite_kernel():
            yield path, (
                f"learner {learner.name!r} needs an infinite-width kernel, and architecture "
                f"{architecture.name!r} with these options has none; {_twin_availability()}"
            )
        twin_only = learner.plugin.needs_infinite_kernel and not network.has_kernel_map() and network.has_stax_twin()
        if (learner.plugin.needs_stax_twin or twin_only) and not neural_tangents_installed():
            yield path, (
                f"learner {learner.name!r} needs the stax twin of architecture {architecture.name!r}, which needs "
                f"neural-tangents, and it is not installed; install it with: {INSTALL_HINT}"
            )
        if learner.plugin.needs_stax_twin and not network.has_stax_twin():
            yield path, (
                f"learner {learner.name!r} needs an infinite-width (stax) twin, and architecture "
                f"{architecture.name!r} with these options has none; {_twin_availability()}"
            )
        if learner.plugin.needs_readout_features and not network.has_readout_features():
            yield path, (
                f"learner {learner.name!r} needs the architecture's readout features, and architecture "
                f"{architecture.name!r} does not expose them"
            )


def fit_window_is_in_the_sweep(sections: Sections) -> Problems:
    n_train = sections.n_train
    if n_train is None:
        return
    for bound in ("n_min", "n_max"):
        value = getattr(sections.core.fit, bound)
        if value is not None and value not in n_train:
            nearest = min(n_train, key=lambda n: abs(n - value))
            yield ("fit", bound), f"{value} is not one of sweep.n_train {n_train} (nearest: {nearest})"


def width_sweep_has_a_width(sections: Sections) -> Problems:
    architecture = sections.architecture
    if sections.core.sweep.width and architecture is not None and not architecture.plugin.has_width():
        yield ("sweep", "width"), f"architecture {architecture.name!r} has no 'width' option to sweep"


def reference_is_a_learner(sections: Sections) -> Problems:
    compare = sections.core.compare
    ids = [section.id or section.name for section in sections.core.learners]
    if "reference" in compare.model_fields_set and compare.reference not in ids:
        yield ("compare", "reference"), f"no learner has the id {compare.reference!r}; the ids are {', '.join(ids)}"


def dynamics_learner_follows_its_kernel(sections: Sections) -> Problems:
    if sections.core.dynamics is None:
        return
    if len(sections.core.learners) != 1:
        yield ("learners",), "a dynamics spec has exactly one learner, one that follows its kernel through training"
        return
    for learner in sections.learners:
        if not learner.plugin.follows_kernel_dynamics:
            following = sorted(name for name, plugin in load_all("learner").usable.items() if plugin.follows_kernel_dynamics)
            yield ("learners", 0, "name"), (
                f"learner {learner.name!r} does not follow its kernel through training, which a dynamics spec "
                f"needs; learners that do: {', '.join(following) or 'none installed'}"
            )


def probes_fit_the_test_set(sections: Sections) -> Problems:
    dynamics, dataset = sections.core.dynamics, sections.dataset
    if dynamics is not None and dataset is not None and dynamics.probe_n > dataset.options.n_test:
        yield ("dynamics", "probe_n"), (
            f"{dynamics.probe_n} probe inputs are taken from the test set, which has n_test={dataset.options.n_test}"
        )


def spectrum_has_a_kernel_and_a_large_pool(sections: Sections) -> Problems:
    spectrum = sections.core.spectrum
    if spectrum is None:
        return
    if sections.core.dynamics is not None:
        yield ("spectrum",), "a dynamics spec follows one training run; a spectrum needs a sweep over n"
    if sections.n_train is not None and spectrum.pool < SPECTRUM_POOL_PER_N * max(sections.n_train):
        yield ("spectrum", "pool"), (
            f"{spectrum.pool} samples are fewer than {SPECTRUM_POOL_PER_N} times the largest n_train "
            f"({max(sections.n_train)}): the prediction at n needs the modes up to a few times n"
        )
    if spectrum.learners is not None and len(sections.learners) == len(sections.core.learners):
        kernels = {learner.id for learner in sections.learners if learner.plugin.regresses_with_kernel}
        for index, learner_id in enumerate(spectrum.learners):
            if learner_id not in kernels:
                yield ("spectrum", "learners", index), (
                    f"{learner_id!r} is not a learner of this spec that regresses with a kernel; those are: "
                    f"{', '.join(sorted(kernels)) or 'none'}"
                )
    if sections.learners and len(sections.learners) == len(sections.core.learners):
        if not any(learner.plugin.regresses_with_kernel for learner in sections.learners):
            with_kernel = sorted(name for name, plugin in load_all("learner").usable.items() if plugin.regresses_with_kernel)
            yield ("spectrum",), (
                f"no learner of this spec regresses with a kernel whose spectrum can be taken; learners that do: "
                f"{', '.join(with_kernel) or 'none installed'}"
            )


RULES: tuple[Callable[[Sections], Problems], ...] = (
    sizes_are_given,
    dynamics_has_one_size,
    learner_ids_are_distinct,
    learners_compute_different_results,
    test_losses_are_one_quantity,
    sizes_fit_the_pool,
    validation_is_given,
    inputs_fit_the_architecture,
    network_is_within_reason,
    learners_fit_the_architecture,
    fit_window_is_in_the_sweep,
    width_sweep_has_a_width,
    reference_is_a_learner,
    dynamics_learner_follows_its_kernel,
    probes_fit_the_test_set,
    spectrum_has_a_kernel_and_a_large_pool,
)


def check_consistency(sections: Sections, collector: ProblemCollector) -> None:
    """Apply every rule, adding each problem to `collector`."""
    for rule in RULES:
        for path, reason in rule(sections):
            collector.add(path, reason)


def _twin_availability() -> str:
    """Which installed architectures have an infinite-width kernel, and when."""
    available = [
        f"{name} ({plugin.stax_twin_availability})"
        for name, plugin in load_all("architecture").usable.items()
        if plugin.stax_twin_availability is not None
    ]
    return "architectures with one: " + (", ".join(available) or "none installed")
