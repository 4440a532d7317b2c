"""The answer at the end of `ntkbench run`: every learner's exponent and its verdict against the
reference, as a plain-text table for the terminal, and the paper's claims (the leaderboard has the rest)."""

from __future__ import annotations

from ..analysis import SpecSummary, spec_claims


def exponents_text(summary: SpecSummary) -> str:
    """α with its interval, the metric at the largest n, Δα with its interval and the verdict, per learner
    (per width of a width sweep); empty for a dynamics spec."""
    from tabulate import tabulate

    if summary.spec.get("dynamics"):
        return ""
    blocks = []
    for group in summary.groups:
        comparison = group.comparison
        against = {c.learner_id: c for c in comparison.comparisons}
        rows = []
        for fit in comparison.fits:
            learner = fit.curve.learner_id
            alpha = "no fit" if fit.law is None else f"{fit.alpha:.3f}" + (
                f" [{fit.alpha_interval.low:.3f}, {fit.alpha_interval.high:.3f}]" if fit.alpha_interval else ""
            )
            last = fit.curve.mean()[-1]
            delta = "reference" if learner == comparison.reference else "—"
            equivalence, verdict = "", ""
            if learner in against:
                c = against[learner]
                delta = f"{c.delta_alpha:+.3f}" + (
                    f" [{c.delta_interval.low:+.3f}, {c.delta_interval.high:+.3f}]" if c.delta_interval else ""
                )
                interval = c.equivalence_interval
                equivalence = f"[{interval.low:+.3f}, {interval.high:+.3f}]" if interval else ""
                verdict = group.decision(c).words(comparison.reference)
            rows.append([comparison.rank_label(fit), learner, alpha, f"{last:.4f}" if last == last else "—", delta,
                         equivalence, verdict])
        metric = summary.spec["metric"]
        n_last = int(group.curves[0].n_values[-1])
        headers = ["rank", "learner", "α [95% CI]", f"{metric} at n={n_last}", f"Δα vs {comparison.reference} [95% CI]",
                   "[90% CI]", "verdict"]
        if comparison.reference is None:  # no learner to compare with: no Δα, no verdicts
            headers, rows = headers[:4], [row[:4] for row in rows]
        title = f"{summary.name}" + (f", width {group.width}" if group.width is not None else "")
        blocks.append(f"{title}\n" + tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    claims = [f"  claim {claim.number}, {claim.statement}: {claim.label}" for claim in spec_claims(summary)]
    blocks.append("The paper's claims, as this spec's data bear on them:\n" + "\n".join(claims))
    return "\n\n".join(blocks)
