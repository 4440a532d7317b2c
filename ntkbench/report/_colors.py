"""One colour per learner: the same in every figure of a spec, and, for the same learner id, in
every spec (the colour is chosen from the id, not from the learner's place in the spec)."""

from __future__ import annotations

import hashlib

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#000000", "#01665e", "#8e0152", "#6a3d9a", "#b15928", "#a6cee3", "#fb9a99", "#b2df8a", "#fdbf6f", "#cab2d6",
)
"""Twenty distinguishable colours: matplotlib's tab10, then ten that differ from each of those (used
once a spec has more than ten learners)."""
STRONG = 10


def learner_colors(learner_ids: list[str]) -> dict[str, str]:
    """A colour per learner id: the tab10 entry its id hashes to (MD5, so the same in every process
    and spec), or, when an earlier learner of the list took that one, the next free tab10 entry,
    then the next free one of the other ten. Past twenty learners colours repeat."""
    colors: dict[str, str] = {}
    for learner_id in learner_ids:
        start = int(hashlib.md5(learner_id.encode()).hexdigest(), 16)
        taken = set(colors.values())
        order = [PALETTE[(start + step) % STRONG] for step in range(STRONG)]
        order += [PALETTE[STRONG + (start + step) % (len(PALETTE) - STRONG)] for step in range(len(PALETTE) - STRONG)]
        colors[learner_id] = next((color for color in order if color not in taken), order[0])
    return colors


VERDICT_COLORS = {
    "network scales better": "#1a9850",
    "kernel scales better": "#d73027",
    "equivalent": "#4575b4",
    "inconclusive": "#969696",
    "depends on the fit": "#fdae61",
}
"""A colour per verdict (the forest plot's); verdicts without an interval are not drawn."""
