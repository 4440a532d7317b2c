"""The three claims of Vyas, Bansal & Nakkiran (2022), read off one spec's results.

1. The trained network's data-scaling exponent beats those of its infinite-width NTK and of its
   empirical NTK at initialisation.
2. An empirical NTK taken after pre-training on a fixed number of samples does not catch up
   with the network as n grows.
3. The empirical NTK keeps moving through most of training, and width alone does not close the
   gap between the network and its kernel at initialisation.

Claims 1 and 2 say the network scales better than each kernel they name. Their status follows one
rule over the verdicts of those kernels against the network:

- *supported*: the network scales better than every one, and every kernel the claim names is in
  the spec;
- *contradicted*: every one keeps pace (equivalent within the margin, or scaling better);
- *inconclusive*: none is decided either way, or the network beats every one present while a
  kernel the claim names is missing;
- *mixed*: otherwise (the network beats one and another keeps pace, or one is decided and another
  is not); `Claim.label` says what each verdict is.

Claim 3 reads the largest width of a width sweep (supported when the network still scales better
than its empirical NTK at initialisation, contradicted when that kernel keeps pace) or a dynamics
spec. Every claim compares the network with its kernels: it is *not tested* in a spec whose
reference is not a trained network (`Learner.trains_network`), or that lacks the learners it needs
(the evidence says which would test it).
Learners are recognised by what they declare (`Learner.network_kernel`), never by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from ..api import load_all
from ..spec import DEFAULT_REFERENCE
from ._collect import SpecSummary, WidthGroup, dynamics_table
from ._compare import Comparison
from ._verdicts import Decision, delta_text

Status = Literal["supported", "contradicted", "mixed", "inconclusive", "not tested"]

STATEMENTS = (
    "the network's exponent beats its infinite NTK's and its empirical NTK's at initialisation",
    "an empirical NTK pre-trained on a fixed number of samples does not catch up as n grows",
    "the empirical NTK keeps moving through most of training, and width alone does not close the gap",
)
MOST_OF_TRAINING = 0.5
"""Claim 3 holds for a training whose kernel first settles (see `SETTLED`) after this fraction of it."""


@dataclasses.dataclass(frozen=True)
class Claim:
    number: int
    status: Status
    evidence: str
    """The numbers the status rests on, or what would test the claim."""
    parts: tuple[str, ...] = ()
    """For a mixed status, what each kernel's verdict says, in words (e.g. "beats `entk_init`")."""

    @property
    def statement(self) -> str:
        return STATEMENTS[self.number - 1]

    @property
    def label(self) -> str:
        """The status, with its parts when they disagree: "mixed: beats `entk_init`; equivalent to `ntk_infinite`"."""
        return f"{self.status}: {'; '.join(self.parts)}" if self.parts else self.status


def spec_claims(summary: SpecSummary) -> list[Claim]:
    """The three claims as one spec's results bear on them."""
    if summary.spec.get("dynamics"):
        untested = "a dynamics spec follows one training; a spec with a sweep over n tests it"
        return [Claim(1, "not tested", untested), Claim(2, "not tested", untested), _dynamics_claim(summary)]
    group = summary.groups[-1]  # the largest width of a width sweep
    reference = summary.spec.get("compare", {}).get("reference", DEFAULT_REFERENCE)
    untested = _no_network_reference(summary.spec, reference)
    if untested is None and group.comparison.reference is None:
        untested = f"the reference `{reference}` has no fitted exponent yet (too few sizes, or failed cells)"
    if untested is not None:
        return [Claim(number, "not tested", untested) for number in (1, 2, 3)]
    return [_first_claim(summary, group), _second_claim(summary, group), _third_claim(summary)]


def _no_network_reference(spec: dict[str, Any], reference: str | None) -> str | None:
    """Why a spec cannot test the claims when its reference is not a trained network (every claim
    compares the network with one of its kernels), else None."""
    plugins = load_all("learner").usable
    entry = next((e for e in spec["learners"] if e["id"] == reference), None)
    plugin = plugins.get(entry["name"]) if entry is not None else None
    if plugin is not None and plugin.trains_network:
        return None
    networks = sorted(name for name, plugin in plugins.items() if plugin.trains_network)
    needed = " or ".join(f"`{name}`" for name in networks) or "a learner that trains the network"
    if entry is None:
        return f"the spec compares no learner with a reference; the claims need {needed} as `compare.reference`"
    return (f"the reference `{reference}` is not a trained network; the claims compare the network with its kernels "
            f"and need {needed} as `compare.reference`")


def _roles(spec: dict[str, Any]) -> dict[str, str]:
    """Learner id -> the kernel of the network it regresses with, as its plugin declares."""
    plugins = load_all("learner").usable
    roles = {}
    for entry in spec["learners"]:
        plugin = plugins.get(entry["name"])
        if plugin is not None and plugin.network_kernel is not None:
            roles[entry["id"]] = plugin.network_kernel
    return roles


def _would_test(role: str) -> str:
    names = sorted(name for name, plugin in load_all("learner").usable.items() if plugin.network_kernel == role)
    return " or ".join(f"`{name}`" for name in names) or f"a learner whose network_kernel is {role!r}"


def _comparisons(group: WidthGroup, ids: list[str]) -> dict[str, Comparison]:
    return {c.learner_id: c for c in group.comparison.comparisons if c.learner_id in ids}


def _delta(group: WidthGroup, comparison: Comparison) -> str:
    decision = group.decision(comparison)
    return f"`{comparison.learner_id}`: {delta_text(comparison)}: {decision.words(group.comparison.reference)}"


KEEPS_PACE = ("kernel scales better", "equivalent")
"""Verdicts that contradict "the network scales better than this kernel": the kernel scales as well
(within the margin) or better."""


def _status(decisions: dict[str, Decision], reference: str, complete: bool) -> tuple[Status, tuple[str, ...]]:
    """The status of a claim that the network beats each of these kernels (learner id -> decision),
    and, when they disagree, each one's verdict in words. `complete`: every kernel the claim names
    is in the spec (else "supported" is out of reach)."""
    verdicts = [decision.verdict for decision in decisions.values()]
    supports = [verdict == "network scales better" for verdict in verdicts]
    against = [verdict in KEEPS_PACE for verdict in verdicts]
    if all(against):
        return "contradicted", ()
    if all(supports):
        return ("supported" if complete else "inconclusive"), ()
    if not any(supports) and not any(against):
        return "inconclusive", ()
    words = tuple(f"against `{learner}`, {decision.relation(reference)}" for learner, decision in decisions.items())
    return "mixed", words


def _first_claim(summary: SpecSummary, group: WidthGroup) -> Claim:
    roles = _roles(summary.spec)
    wanted = ("infinite", "initial")
    present = {role: [i for i, r in roles.items() if r == role] for role in wanted}
    comparisons = _comparisons(group, [i for ids in present.values() for i in ids])
    if not comparisons or group.comparison.reference is None:
        needed = " and ".join(_would_test(role) for role in wanted)
        return Claim(1, "not tested", f"needs {needed} beside the network")
    decisions = {learner_id: group.decision(c) for learner_id, c in comparisons.items()}
    evidence = "; ".join(_delta(group, c) for c in comparisons.values())
    missing = [role for role in wanted if not present[role]]
    if missing:
        evidence += "; not in this spec: " + ", ".join(_would_test(role) for role in missing)
    status, parts = _status(decisions, group.comparison.reference, not missing)
    return Claim(1, status, evidence, parts)


def _second_claim(summary: SpecSummary, group: WidthGroup) -> Claim:
    roles = _roles(summary.spec)
    ids = [i for i, r in roles.items() if r == "pretrained"]
    comparisons = _comparisons(group, ids)
    if not comparisons:
        return Claim(2, "not tested", f"needs {_would_test('pretrained')} beside the network")
    parts, decisions = [], {}
    curves = {curve.learner_id: curve for curve in group.curves}
    reference = curves[group.comparison.reference]
    plugins = load_all("learner").usable
    for learner_id, comparison in comparisons.items():
        decisions[learner_id] = group.decision(comparison)
        entry = next(e for e in summary.spec["learners"] if e["id"] == learner_id)
        text = _delta(group, comparison)
        pretrained_on = _held_out(plugins[entry["name"]], entry)
        ratios = reference.mean() / curves[learner_id].mean()
        usable = np.isfinite(ratios)
        if pretrained_on and usable.any():
            n = reference.n_values[usable]
            near = int(np.argmin(np.abs(np.log(n / pretrained_on))))
            text += (f"; error ratio network / kernel {ratios[usable][near]:.3f} at n = {int(n[near])} "
                     f"(pre-trained on {pretrained_on}), {ratios[usable][-1]:.3f} at n = {int(n[-1])}")
        parts.append(text)
    status, words = _status(decisions, group.comparison.reference, True)
    return Claim(2, status, "; ".join(parts), words)


def _held_out(plugin: type, entry: dict[str, Any]) -> int | None:
    """The samples a learner pre-trains on (`held_out_samples`), from its options in the spec."""
    options = {key: value for key, value in entry.items() if key not in {"name", "id"} and not key.startswith("_")}
    try:
        return plugin(plugin.Options(**options)).held_out_samples() or None
    except ValueError:  # options of an older spec version: the ratio near pre-training is left out
        return None


def _third_claim(summary: SpecSummary) -> Claim:
    if len(summary.groups) < 2:
        return Claim(3, "not tested", "needs a dynamics spec (a `dynamics` section) or a sweep over `width`")
    roles = _roles(summary.spec)
    ids = [i for i, r in roles.items() if r == "initial"]
    by_width = [(group.width, _comparisons(group, ids)) for group in summary.groups]
    if not ids or not all(comparisons for _, comparisons in by_width):
        return Claim(3, "not tested", f"needs {_would_test('initial')} beside the network in the width sweep")
    learner = ids[0]
    decisions = [(width, summary.groups[k].decision(c[learner]), c[learner]) for k, (width, c) in enumerate(by_width)]
    reference = summary.groups[-1].comparison.reference
    evidence = "; ".join(f"width {width}: {delta_text(c)}: {decision.words(reference)}" for width, decision, c in decisions)
    evidence = f"network against `{learner}`, " + evidence
    largest = decisions[-1][1].verdict
    if largest == "network scales better":
        return Claim(3, "supported", evidence)
    if largest in KEEPS_PACE:
        return Claim(3, "contradicted", evidence + "; there is no gap at the largest width")
    return Claim(3, "inconclusive", evidence)


def _dynamics_claim(summary: SpecSummary) -> Claim:
    rows, settled = dynamics_table(summary)
    if not settled:
        return Claim(3, "not tested", "no dynamics records")
    shown = ", ".join("never" if value is None else f"{value:.2f}" for value in settled)
    first, last = rows[0], rows[-1]
    evidence = (
        f"the kernel first settles at these fractions of training (one per seed): {shown}; test error of kernel "
        f"regression with the initial kernel {first['after_kernel_test_error']:.3f}, with the final (after) kernel "
        f"{last['after_kernel_test_error']:.3f}, of the trained network {last['network_test_error']:.3f}"
    )
    late = [value is None or value > MOST_OF_TRAINING for value in settled]
    if all(late):
        return Claim(3, "supported", evidence)
    if not any(late):
        return Claim(3, "contradicted", evidence)
    return Claim(3, "inconclusive", evidence)
