"""The leaderboard's Markdown: per spec, its settings, every learner's exponent with its interval,
each learner against the reference, the dynamics of a dynamics spec, and the provenance of the
records; and a summary across specs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analysis import (
    STATEMENTS,
    Claim,
    Curve,
    Decision,
    LearnerFit,
    SpecSummary,
    TrainingFacts,
    WidthGroup,
    better_law,
    dynamics_table,
    spec_claims,
)
from ..numerics._dynamics import SETTLED
from ..spec import content_hash
from ..storage import cells_of, library_versions, summarize_provenance


def _format_options(section: dict[str, Any]) -> str:
    options = ", ".join(
        f"{key}={_compact(value)}" for key, value in section.items() if key not in {"name", "id"} and not key.startswith("_")
    )
    return f"`{section['name']}`" + (f" ({options})" if options else "")


def _learner_lines(learners: list[dict[str, Any]]) -> list[str]:
    """One line per learner; the learners of one grid (ids `base[...]` in a row) on one line, with
    the options they share and the ids that tell them apart."""
    lines: list[str] = []
    index = 0
    while index < len(learners):
        entry = learners[index]
        base = _grid_base(entry["id"])
        members = [entry]
        while base and index + len(members) < len(learners) and _grid_base(learners[index + len(members)]["id"]) == base:
            members.append(learners[index + len(members)])
        if len(members) == 1:
            lines.append(f"- learner `{entry['id']}`: {_format_options(entry)}")
        else:
            shared = {key: value for key, value in entry.items() if all(m.get(key) == value for m in members)}
            ids = ", ".join(f"`{m['id'][len(base):]}`" for m in members)
            lines.append(f"- grid `{base}`, {len(members)} learners {ids}: {_format_options(shared)}")
        index += len(members)
    return lines


def _grid_base(learner_id: str) -> str | None:
    """`random_features` of `random_features[width=64]`; None for an id no grid made."""
    return learner_id[: learner_id.index("[")] if learner_id.endswith("]") and "[" in learner_id else None


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _learner_label(curve: Curve) -> str:
    return f"`{curve.learner_id}`" + (f" ({curve.name})" if curve.name != curve.learner_id else "")


def _interval_cell(interval, reason: str | None) -> str:
    if interval is None:
        return f"— ({reason})" if reason else "—"
    return f"[{interval.low:.3f}, {interval.high:.3f}]"


def _delta_interval_cell(interval) -> str:
    return "—" if interval is None else f"[{interval.low:+.3f}, {interval.high:+.3f}]"


def _other_law_cell(fit: LearnerFit) -> str:
    other = "saturating" if fit.model == "power_law" else "power_law"
    law = fit.laws.get(other)
    if law is None:
        return "—"
    if other == "saturating":
        return f"α={law.alpha:.3f}, c={law.floor:.4f}"
    return f"α={law.alpha:.3f}"


def _held_out_cell(fit: LearnerFit) -> str:
    if fit.held_out is None:
        return "— (needs 4 sizes)"
    better = better_law(fit.held_out)
    return f"{fit.held_out['power_law']:.3f} / {fit.held_out['saturating']:.3f} ({better.replace('_', ' ')})"


def _largest_n_cell(curve: Curve) -> str:
    for i in reversed(range(len(curve.n_values))):
        column = curve.table[:, i]
        values = column[~np.isnan(column)]
        if len(values):
            spread = f" ± {values.std(ddof=1):.4f}" if len(values) > 1 else ""
            return f"{values.mean():.4f}{spread} (n={curve.n_values[i]})"
    return "—"


def _training_cell(facts: TrainingFacts | None) -> str:
    """Steps at the largest n and the worst train error; loudly, the cells that missed their stopping rule."""
    if facts is None:
        return "—"
    steps = f"{facts.steps_at_largest_n:.0f} steps at largest n, " if facts.steps_at_largest_n is not None else ""
    text = f"{steps}train error ≤ {facts.worst_train_error:.3f}"
    if facts.unconverged:
        return f"**NOT CONVERGED** in {facts.unconverged} of {facts.cells} cells; {text}"
    return text


def _law_formula(model: str) -> str:
    return "metric = a·n^-α" if model == "power_law" else "metric = a·n^-α + c"


def _spec_header(summary: SpecSummary) -> list[str]:
    spec = summary.spec
    lines = [f"# {spec['name']}", ""]
    if spec.get("description"):
        lines += [spec["description"], ""]
    sweep = f"- sweep: n_train = {spec['sweep']['n_train']}, seeds = {spec['sweep']['seeds']}"
    if spec["sweep"].get("width"):
        sweep += f", width = {spec['sweep']['width']}"
    lines += [
        f"- dataset: {_format_options(spec['dataset'])}",
        f"- architecture: {_format_options(spec['architecture'])}",
        *_learner_lines(spec["learners"]),
        sweep,
    ]
    if spec.get("dynamics"):
        lines.append(f"- dynamics: {_compact(spec['dynamics'])}")
    return lines


def _group_tables(summary: SpecSummary, group: WidthGroup, heading: str) -> list[str]:
    """The exponents of one group of learners, and each against the network."""
    from tabulate import tabulate

    comparison, metric = group.comparison, summary.spec["metric"]
    rows = []
    for fit in comparison.fits:
        curve = fit.curve
        fitted = curve.n_values[curve.usable()]
        rows.append(
            [
                comparison.rank_label(fit),
                _learner_label(curve),
                f"{fit.alpha:.3f}" if fit.law else "—",
                _interval_cell(fit.alpha_interval, fit.reason) if fit.law else f"no fit: {fit.reason}",
                _other_law_cell(fit),
                _held_out_cell(fit) if fit.law else "—",
                _largest_n_cell(curve),
                f"{fitted[0]}–{fitted[-1]} ({len(fitted)} sizes)" if len(fitted) else "—",
                int((~np.all(np.isnan(curve.table), axis=1)).sum()),
                group.failed[curve.learner_id],
                _training_cell(group.training.get(curve.learner_id)),
            ]
        )
    other = "saturating" if comparison.model == "power_law" else "power law"
    headers = [
        "rank", "learner", "α", "95% CI", f"{other} fit", "held-out error: power law / saturating",
        f"{metric} at largest n (mean ± sd)", "fit n", "seeds", "failed cells", "training",
    ]
    lines = [f"{heading} Exponents", "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    if comparison.model == "saturating":
        floors = [
            f"`{fit.curve.learner_id}` {fit.law.floor:.4f} {_interval_cell(fit.floor_interval, None)}"
            for fit in comparison.fits if fit.law
        ]
        lines += ["Irreducible error c of the saturating fit, with its 95% interval: " + "; ".join(floors) + ".", ""]
    if comparison.reference is not None and comparison.comparisons:
        rows = []
        for c in comparison.comparisons:
            decision = group.decision(c)
            rows.append([
                f"`{c.learner_id}`",
                f"{c.delta_alpha:+.3f}",
                _delta_interval_cell(c.delta_interval),
                _delta_interval_cell(c.equivalence_interval),
                decision.words(comparison.reference),
                "; ".join(decision.beside()) or "—",
                f"{c.error_ratio:.3f} (n={c.ratio_n})",
                _interval_cell(c.ratio_interval, None),
            ])
        headers = [
            "learner", f"Δα = α({comparison.reference}) − α(learner)", "95% CI", "90% CI", "verdict", "beside it",
            f"{metric} ratio {comparison.reference} / learner", "95% CI",
        ]
        lines += [
            f"{heading} Against `{comparison.reference}`",
            "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
            "",
        ] + _every_fit_lines(group)
    return lines


def _every_fit_lines(group: WidthGroup) -> list[str]:
    """Δα and its interval under every law and metric, the spec's own marked."""
    from tabulate import tabulate

    if len(group.fits) < 2:
        return []
    chosen = next(key for key, fits in group.fits.items() if fits is group.comparison)
    keys = [chosen, *[key for key in group.fits if key != chosen]]
    headers = ["learner", *[f"{law.replace('_', ' ')}, {metric}" + (" (spec)" if (law, metric) == chosen else "") for law, metric in keys]]
    rows = []
    for c in group.comparison.comparisons:
        row = [f"`{c.learner_id}`"]
        for key in keys:
            other = next((o for o in group.fits[key].comparisons if o.learner_id == c.learner_id), None)
            row.append("—" if other is None else f"{other.delta_alpha:+.3f} {_interval_cell(other.delta_interval, None)}")
        rows.append(row)
    note = [f"{group.metrics_left_out}.", ""] if group.metrics_left_out else []
    return [
        "Δα under every law and metric (another overrules the spec's own only when it is separated with the other sign, "
        "predicts the largest n at least as well with the other sign, or, against \"equivalent\", lies beyond the margin):",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        *note,
    ]


EXPLANATION = [
    "Rank: first the learners whose metric at the largest n the best learner's does not beat (the paired 95% interval "
    "of the ratio of their metrics there contains 1), then the others; within each group, 1 + the learners before it "
    "+ the number in it that out-scale it (the paired 95% interval of the difference of their α lies above 0); "
    "learners the data cannot order share a rank (=). Held-out error: |log(predicted / observed)| at the largest n when fitted without it. "
    "Training: the steps a trained learner took at the largest n and its worst train error over all cells; "
    "NOT CONVERGED counts the cells that reached `max_steps` before their `until` rule. "
    "Verdict from the interval of Δα under the spec's law and metric: equivalent when its 90% interval lies inside "
    "±margin (`compare.margin`; two one-sided tests at 5%); else network (or kernel) scales better when its 95% "
    "interval lies above (below) 0; else inconclusive, with the seeds (and test-set size, or range of n) whose expected interval "
    "at the observed Δα would decide. \"depends on the fit\" when another law or metric overrules it: separated "
    "with the other sign, or with the other sign and predicting the largest n at least as well (held-out error), "
    "or, against \"equivalent\", lying beyond the margin. Other disagreements are listed beside the verdict.",
    "",
]


def _fit_lines(summary: SpecSummary) -> list[str]:
    spec, comparison = summary.spec, summary.groups[0].comparison
    n_min, n_max = summary.fit_window()
    setting = spec["fit"].get("model", "power_law")
    chosen = comparison.model.replace("_", " ") + (" (chosen by held-out error)" if setting == "auto" else "")
    return [
        f"- fit: {chosen}, {_law_formula(comparison.model)}, on log axes over {n_min} ≤ n ≤ {n_max}",
        f"- intervals: 95%, {comparison.resampling}",
        f"- margin of equivalence: ±{comparison.margin:g} in α (`compare.margin`)",
        "",
    ]


def _claims_lines(claims: list[Claim]) -> list[str]:
    from tabulate import tabulate

    rows = [[str(claim.number), claim.statement, f"**{claim.label}**", claim.evidence] for claim in claims]
    return [
        "## Claims",
        "",
        tabulate(rows, headers=["claim", "statement", "status", "what it rests on"], tablefmt="github", disable_numparse=True),
        "",
    ]


def spec_section(summary: SpecSummary, plots: list[tuple[str, str]]) -> list[str]:
    """A spec's section; `plots` are the figure file names (kind, name) in the order drawn."""
    claims = _claims_lines(spec_claims(summary))
    if summary.spec.get("dynamics"):
        return _spec_header(summary) + [""] + claims + _dynamics_lines(summary, plots) + _provenance_lines(summary)
    lines = _spec_header(summary) + _fit_lines(summary) + claims
    figures = dict(plots)
    if len(summary.groups) == 1:
        group = summary.groups[0]
        lines += _group_tables(summary, group, "##") + EXPLANATION
        lines += [f"![{summary.spec['metric']} against n for every learner]({figures['metric']})", ""]
        if group.comparison.comparisons:
            lines += [f"![Δα of every learner against the network]({figures['delta']})", ""]
        lines += _training_lines(figures.get("training"), "##")
    else:
        lines += _width_table(summary) + [f"![α of every learner against width]({figures['width']})", ""] + EXPLANATION
        for group in summary.groups:
            lines += [f"## width {group.width}", ""] + _group_tables(summary, group, "###")
            lines += [f"![{summary.spec['metric']} against n at width {group.width}]({figures[f'metric_w{group.width}']})", ""]
            lines += _training_lines(figures.get(f"training_w{group.width}"), "###")
    return lines + _spectra_lines(summary, figures) + _provenance_lines(summary)


def _training_lines(figure: str | None, heading: str) -> list[str]:
    """The training curves' section, when the records store curves."""
    if figure is None:
        return []
    return [
        f"{heading} Training",
        "",
        "Each trained learner's mean minibatch loss against the step, one line per n (the lowest seed with a stored "
        "curve; a training the same at every n, such as a pre-training on a fixed set, once).",
        "",
        f"![training loss against step, one line per n]({figure})",
        "",
    ]


def _spectra_lines(summary: SpecSummary, figures: dict[str, str]) -> list[str]:
    """The "Spectra" section of a spec with a `spectrum` section: predicted against measured test MSE
    per n, the exponents and αs per learner, and the two figures."""
    from tabulate import tabulate

    spectrum = summary.spec.get("spectrum")
    if spectrum is None:
        return []
    lines = ["## Spectra", ""]
    if not summary.spectral_curves:
        return lines + ["No spectrum is stored yet: `ntkbench run` takes them after the cells.", ""]
    first, last = spectrum["fit_modes"]
    lines += [
        f"Each kernel is eigendecomposed on a pool of M = {spectrum['pool']} training samples per seed (after its "
        "training and validation samples). Kernel regression theory (Bordelon, Canatar and Pehlevan 2020; Simon et al. "
        "2021) then predicts the test MSE (squared error to one-hot targets, summed over classes) at each n and the "
        f"ridge the learner used there. *predicted*: from the pool's spectrum with its noise floor counted as noise "
        f"and its modes beyond {last} continued by power laws fitted over modes {first}–{last}; *pool only*: from the "
        "pool's spectrum as it is, which falls short as n approaches M. Means over seeds.",
        "",
    ]
    rows = []
    for curve in summary.spectral_curves:
        name = f"`{curve.learner_id}`" + (f" width {curve.width}" if curve.width is not None else "")
        for n, predicted, pool, measured in zip(curve.n_values, curve.predicted_mse, curve.pool_predicted_mse, curve.measured_mse):
            rows.append([name, int(n), f"{predicted:.4f}", f"{pool:.4f}", f"{measured:.4f}", f"{predicted / measured - 1:+.1%}",
                         f"{pool / measured - 1:+.1%}"])
    headers = ["learner", "n", "predicted MSE", "pool only", "measured MSE", "predicted vs measured", "pool only vs measured"]
    lines += [tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    rows = [
        [f"`{curve.learner_id}`" + (f" width {curve.width}" if curve.width is not None else ""), f"{curve.capacity:.3f}",
         f"{curve.source:.3f}", f"{curve.noise_fraction:.1%}", f"{curve.alpha_from_exponents:.3f}",
         f"{curve.alpha_of_prediction:.3f}", f"{curve.alpha_measured:.3f}"]
        for curve in summary.spectral_curves
    ]
    headers = ["learner", "capacity b (λ_k ∝ k^-b)", "source s (residual power ∝ k^-s)", "noise floor",
               "α = min(s, 2b)", "α of the predicted MSE", "α of the measured MSE"]
    lines += [
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        f"The exponents are fitted over modes {first}–{last}, after the pool's noise floor is taken off: the mean target "
        "power over the pool's second half, which every pool mode carries alike (label noise, and whatever the pool's "
        "modes do not resolve), as a share of the target's power. `min(s, 2b)` is how fast the resolved part is "
        "learned as n grows at a vanishing ridge; the floor is never learned and flattens the curve, so the α of the "
        "predicted MSE (a power law fitted to the seed means above, as is the measured one) is what to set against "
        "the measured α.",
        "",
        f"![eigenvalue decay of every kernel]({figures['eigenvalues']})",
        "",
        f"![fraction of the target's power on each kernel's top modes]({figures['alignment']})",
        "",
    ]
    return lines


def _width_table(summary: SpecSummary) -> list[str]:
    from tabulate import tabulate

    learners = [fit.curve.learner_id for fit in summary.groups[0].comparison.fits]
    rows = []
    for learner in learners:
        row = [f"`{learner}`"]
        for group in summary.groups:
            fit = next(f for f in group.comparison.fits if f.curve.learner_id == learner)
            row.append(_alpha_with_half_width(fit))
        rows.append(row)
    headers = ["learner", *[f"width {group.width}" for group in summary.groups]]
    return ["## α by width", "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]


def _alpha_with_half_width(fit: LearnerFit) -> str:
    if fit.law is None:
        return "—"
    if fit.alpha_interval is None:
        return f"{fit.alpha:.3f}"
    return f"{fit.alpha:.3f} ± {fit.alpha_interval.half_width:.3f}"


def _dynamics_lines(summary: SpecSummary, plots: list[tuple[str, str]]) -> list[str]:
    from tabulate import tabulate

    rows, settled = dynamics_table(summary)
    if not rows:
        return ["No successful run yet.", ""]
    table = [
        [r["step"], f"{r['fraction']:.3f}", f"{r['distance_to_init']:.3g}", f"{r['distance_to_final']:.3g}",
         f"{r['velocity']:.3g}", f"{r['after_kernel_test_error']:.4f}", f"{r['network_test_error']:.4f}"]
        for r in rows
    ]
    headers = ["step", "fraction of training", "distance to initial kernel", "distance to final kernel",
               "velocity (distance per step)", "after-kernel test error", "network test error"]
    if all(value is None for value in settled):
        verdict = (f"In no seed does the distance to the final kernel fall below {SETTLED:.0%} of its initial value "
                   "before the end of training: the kernel keeps moving throughout.")
    else:
        shown = ", ".join("never" if value is None else f"{value:.3f}" for value in settled)
        verdict = (f"The distance to the final kernel first falls below {SETTLED:.0%} of its initial value at these "
                   f"fractions of training (one per seed): {shown}.")
    figures = dict(plots)
    return [
        "## Kernel dynamics",
        "",
        verdict,
        "",
        tabulate(table, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        "Kernel distance: 1 − ⟨K1, K2⟩_F / (‖K1‖_F ‖K2‖_F), on the probe inputs; means over seeds.",
        "",
        f"![kernel dynamics]({figures['dynamics']})",
        "",
    ]


def _provenance_lines(summary: SpecSummary) -> list[str]:
    records = summary.records
    spec = summary.spec
    expected = len(cells_of(spec))
    succeeded = sum(r.ok for r in records.current.values())
    lines = [
        f"Cells: {succeeded} of {expected} succeeded, {len(records.current) - succeeded} failed, "
        f"{expected - len(records.current)} not run; {records.stale} stale record(s) of earlier spec versions ignored.",
    ]
    failures = sorted({r.failure for r in records.current.values() if not r.ok})
    lines += [f"- failed: {reason}" for reason in failures]
    provenance = summarize_provenance(records.current.values())
    if provenance is not None:
        code = "; ".join(f"{label}: {count} record{'s' if count > 1 else ''}" for label, count in provenance.code)
        lines += [
            "",
            "<sub>Provenance: " + "; ".join(provenance.versions) + f". Code: {code}. "
            f"Device: {', '.join(provenance.devices)}. Machine: {', '.join(provenance.machines)}. "
            f"Computed {provenance.first_date} to {provenance.last_date}, {provenance.cell_seconds / 60:.1f} min of cell time. "
            f"Spec hash `{content_hash(spec)[:16]}`.</sub>",
        ]
        rendering = library_versions()["ntkbench"]
        older = [version for version in provenance.ntkbench_versions if version != rendering]
        if older:
            lines += [
                "",
                f"<sub>These records were computed by ntkbench {', '.join(older)} and rendered by ntkbench {rendering}: "
                f"their numbers are what that version computed; the fits, verdicts and their words are {rendering}'s "
                "rules, applied to them.</sub>",
            ]
    return lines + [""]


def regime(architecture: dict[str, Any]) -> str:
    """"rich" or "lazy" from the options layered architectures share (`parameterization`,
    `output_scale`); "—" for an architecture without them."""
    scale = architecture.get("output_scale")
    if isinstance(scale, int | float) and scale != 1:
        return "rich" if scale < 1 else "lazy"
    parameterization = architecture.get("parameterization")
    if parameterization == "mup":
        return "rich"
    return "lazy" if parameterization in {"ntk", "standard"} else "—"


REGIME_NOTE = (
    "Regime: rich for the maximal-update parameterisation (μP), whose features move at every width, or an "
    "`output_scale` below 1; lazy for NTK or standard parameterisation, whose features freeze as width grows, or "
    "an `output_scale` above 1."
)


def _sizes(values: list[int]) -> str:
    return f"{min(values)}–{max(values)}" if len(values) > 1 else str(values[0])


def _setting_cell(summary: SpecSummary) -> str:
    """The spec's dataset, architecture (with its width or widths) and regime, in one cell."""
    spec = summary.spec
    widths = spec["sweep"].get("width")
    width = f" widths {_sizes(widths)}" if widths else (f" width {spec['architecture']['width']}"
                                                         if "width" in spec["architecture"] else "")
    shown = regime(spec["architecture"])
    return (f"`{spec['dataset']['name']}`, `{spec['architecture']['name']}`{width}"
            + ("" if shown == "—" else f", {shown}"))


def specs_table(summaries: list[SpecSummary], pages: list[str]) -> list[str]:
    """One row per spec, linked to its page: its dataset, architecture and regime, n and seeds, and
    the status of each of the paper's three claims."""
    from tabulate import tabulate

    rows = []
    for summary, page in zip(summaries, pages):
        sweep = summary.spec["sweep"]
        rows.append([
            f"[{summary.name}]({page})", _setting_cell(summary), f"{_sizes(sweep['n_train'])} × {len(sweep['seeds'])}",
            *[f"[{claim.status}]({page}#claims)" if claim.status != "not tested" else "—" for claim in spec_claims(summary)],
        ])
    claims = "; ".join(f"({k}) {statement}" for k, statement in enumerate(STATEMENTS, 1))
    return [
        "## Specs",
        "",
        tabulate(rows, headers=["spec", "data, network, regime", "n × seeds", "claim 1", "claim 2", "claim 3"],
                 tablefmt="github", disable_numparse=True),
        "",
        f"The claims of Vyas, Bansal & Nakkiran (2022): {claims}. Each status is what that spec's data say; its page "
        f"gives the numbers it rests on (— : the spec does not test it). n × seeds: the training-set sizes and how many "
        f"seeds each. {REGIME_NOTE}",
        "",
    ]


def comparisons_table(summaries: list[SpecSummary], pages: list[str]) -> list[str]:
    """One row per (spec, width, learner): Δα against the spec's reference, its 95% and 90% intervals,
    and the verdict in words."""
    from tabulate import tabulate

    rows = []
    for summary, page in zip(summaries, pages):
        if summary.spec.get("dynamics"):
            continue
        for group in summary.groups:
            name = f"[{summary.name}]({page})" + (f", width {group.width}" if group.width is not None else "")
            reference = group.comparison.reference
            for comparison in group.comparison.comparisons:
                rows.append([
                    name, f"`{comparison.learner_id}`", f"`{reference}`", f"{comparison.delta_alpha:+.3f}",
                    _delta_interval_cell(comparison.delta_interval), _delta_interval_cell(comparison.equivalence_interval),
                    _verdict_in_words(group.decision(comparison), reference),
                ])
    if not rows:
        return []
    return [
        "## Every comparison",
        "",
        "Δα = α(reference) − α(learner): above 0, the reference improves faster with more data. Separated when the "
        "paired 95% interval excludes 0; equivalent when the 90% interval lies inside ±margin (two one-sided tests at "
        "5%); a clear difference inside the margin when both hold. The verdict names the interval that gave it.",
        "",
        tabulate(rows, headers=["spec", "learner", "reference", "Δα", "95% CI", "90% CI", "verdict"], tablefmt="github",
                 disable_numparse=True),
        "",
    ]


def _verdict_in_words(decision: Decision, reference: str) -> str:
    words = decision.words(reference, law_note=False)
    return f"{words} (on the worse-fitting law: see its page)" if decision.law_note else words
