"""The leaderboard as one self-contained HTML page: a navigation bar to every spec, the front page
(the specs, the forest plot, every comparison), then every spec's page as a section of its own;
tables sortable by any column, each in a box of its own that scrolls sideways when it is wider than
the column (the page itself never does), figures inlined as SVG and sized to the column. Nothing is
fetched when the page opens.

The sections are converted from the rendered Markdown, which ntkbench writes with a small subset
of the language (headings, paragraphs, lists, pipe tables, images, `code`, **bold**, links and
<sub>), so the page and the Markdown always hold the same numbers; links between the Markdown
pages become links within the page.

Much of that text comes from specs and records, which may come from a stranger, so the page shows
text and never runs script: everything is escaped, a link keeps only an `http:`, `https:`,
relative or `#` target (any other, such as `javascript:` or `data:`, is shown as text), and a
Content-Security-Policy lets run only the page's own sort script (by its hash).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Callable, Iterator, Mapping

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<name>[^)]+)\)$")
_HEADING = re.compile(r"^(?P<level>#{1,6}) (?P<text>.*)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_ALLOWED_TAGS = ("sub",)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
SAFE_SCHEMES = ("http", "https")

STYLE = """
* { box-sizing: border-box; }
body { font: 15px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1b1f24; background: #fff; }
header { position: sticky; top: 0; z-index: 1; background: #f4f6f8; border-bottom: 1px solid #d8dee4; }
header nav { display: flex; flex-wrap: wrap; gap: .15rem 1.1rem; white-space: nowrap; padding: .5rem 1.25rem;
             max-width: 1180px; margin: 0 auto; }
header nav a { color: #0b5cad; text-decoration: none; }
header nav a.overview { font-weight: 600; }
main { max-width: 1180px; margin: 0 auto; padding: 1.25rem 1.25rem 4rem; }
section.spec { border-top: 3px solid #d8dee4; margin-top: 3rem; }
h1 { font-size: 1.8rem; margin: .4rem 0 1rem; } h2 { margin-top: 2.2rem; }
section.spec > h2:first-of-type { font-size: 1.6rem; margin-top: 1.2rem; }
h3 { margin-top: 1.8rem; } h4 { margin-top: 1.4rem; }
[id] { scroll-margin-top: 3rem; }
p, li, figcaption { overflow-wrap: anywhere; }
td { white-space: nowrap; } td.wrap { white-space: normal; overflow-wrap: break-word; min-width: 14rem; }
th:first-child, td:first-child { position: sticky; left: 0; z-index: 1; background: #fff; box-shadow: 1px 0 0 #e3e7eb; }
th:first-child { background: #f4f6f8; } tbody tr:nth-child(even) td:first-child { background: #fafbfc; }
code { background: #f0f2f4; padding: 0 .25em; border-radius: 3px; font-size: .92em; }
.table-box { overflow-x: auto; max-width: 100%; margin: .8rem 0 1.2rem; border: 1px solid #d8dee4; border-radius: 4px; }
table { border-collapse: collapse; font-size: .88rem; min-width: 100%; }
th, td { border-bottom: 1px solid #e3e7eb; padding: .35rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f6f8; cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; } th[aria-sort="descending"]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #fafbfc; }
figure { margin: 1rem 0; overflow-x: auto; }
figure svg, figure img { display: block; width: 100%; min-width: 520px; max-width: 760px; height: auto; }
figcaption { font-size: .85rem; color: #57606a; }
sub { font-size: .8rem; color: #57606a; }
a.back { font-size: .9rem; }
@media (max-width: 640px) {
  body { font-size: 14px; } main { padding: .8rem .75rem 3rem; }
  header nav { flex-wrap: nowrap; overflow-x: auto; padding: .5rem .75rem; }
  h1 { font-size: 1.45rem; } section.spec > h2:first-of-type { font-size: 1.3rem; }
}
"""

SCRIPT = """
(function () {
  function key(text) {
    var match = text.replace(/\\u2212/g, "-").match(/^[=\\s]*([-+]?\\d*\\.?\\d+(?:e[-+]?\\d+)?)/i);
    return match ? [0, parseFloat(match[1]), text] : [1, 0, text];
  }
  function compare(a, b) {
    if (a[0] !== b[0]) return a[0] - b[0];
    if (a[0] === 0 && a[1] !== b[1]) return a[1] - b[1];
    return a[2].localeCompare(b[2]);
  }
  var tables = document.querySelectorAll("table.sortable");
  tables.forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (header, column) {
      header.addEventListener("click", function () {
        var ascending = header.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (x, y) {
          var order = compare(key(x.cells[column].textContent.trim()), key(y.cells[column].textContent.trim()));
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.body.setAttribute("data-sortable-tables", String(tables.length));
})();
"""


def safe_target(target: str) -> bool:
    """Whether a link target may be followed: `http:` or `https:`, or relative (a path or `#anchor`);
    a target with control characters or a backslash (which browsers read leniently) never."""
    if any(ord(character) < 0x20 or character in "\\\x7f" for character in target):
        return False
    scheme = _SCHEME.match(html.unescape(target))
    return scheme is None or scheme.group(1).lower() in SAFE_SCHEMES


Retarget = Callable[[str], str]
"""Maps a link's target in the Markdown to its target in the page (links between Markdown pages
become anchors)."""


def _link(match: re.Match, retarget: Retarget) -> str:
    """A link of escaped text: its target keeps its escapes (& < > already), quotes escaped too."""
    label, target = match.group(1), retarget(match.group(2))
    if not safe_target(target):
        return match.group(0)  # shown as the text it is
    return f'<a href="{target.replace(chr(34), "&quot;").replace(chr(39), "&#x27;")}">{label}</a>'


def _inline(text: str, retarget: Retarget = lambda target: target) -> str:
    """Markdown inline syntax as HTML: `code` (taken literally), **bold**, [links](url) and <sub>;
    everything else escaped."""
    parts = _CODE.split(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        escaped = html.escape(part, quote=False)
        for tag in _ALLOWED_TAGS:
            escaped = escaped.replace(f"&lt;{tag}&gt;", f"<{tag}>").replace(f"&lt;/{tag}&gt;", f"</{tag}>")
        escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
        escaped = _LINK.sub(lambda match: _link(match, retarget), escaped)
        out.append(escaped)
    return "".join(out)


SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src 'sha256-{SCRIPT_HASH}'; style-src 'unsafe-inline'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)
"""Only the sort script runs (by its hash); styles are the page's and the inline SVGs'; images only
from beside the page; nothing else is fetched."""


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


LONG_CELL = 40
"""Characters shown beyond which a table cell wraps; shorter ones keep to one line, so rows stay short."""
LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _shown_length(cell: str) -> int:
    """The characters a Markdown cell shows: a link's text without its target, no backticks."""
    return len(LINK.sub(r"\1", cell).replace("`", ""))


def _table(lines: list[str], retarget: Retarget) -> str:
    header, body = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    head = "".join(f'<th scope="col">{_inline(cell, retarget)}</th>' for cell in header)
    wrap = ' class="wrap"'
    rows = "".join(
        "<tr>" + "".join(f"<td{wrap if _shown_length(cell) > LONG_CELL else ''}>{_inline(cell, retarget)}</td>" for cell in row) + "</tr>"
        for row in body
    )
    return f'<div class="table-box"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _slug(text: str, used: set[str]) -> str:
    """GitHub's anchor of a heading (so the Markdown's `[spec](#spec)` links work here too): lower
    case, punctuation but `-` and `_` dropped, spaces as `-`, `-1`, `-2`, ... on repeats."""
    base = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
    slug, suffix = base, 1
    while slug in used:
        slug, suffix = f"{base}-{suffix}", suffix + 1
    used.add(slug)
    return slug


def _blocks(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(kind, lines) of each block: heading, table, list, image or paragraph."""
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        for kind, starts in (("table", lambda text: text.startswith("|")), ("list", lambda text: text.startswith("- "))):
            if starts(line):
                end = index
                while end < len(lines) and starts(lines[end]):
                    end += 1
                yield kind, lines[index:end]
                index = end
                break
        else:
            if _HEADING.match(line) or _IMAGE.match(line.strip()):
                yield ("heading" if _HEADING.match(line) else "image"), [line]
                index += 1
                continue
            end = index
            while end < len(lines) and lines[end].strip() and not (
                lines[end].startswith(("|", "- ", "#")) or _IMAGE.match(lines[end].strip())
            ):
                end += 1
            yield "paragraph", lines[index:end]
            index = end


def _html_blocks(
    markdown: str, figure_svg: Callable[[str], str | None], retarget: Retarget, used: set[str], *, anchor: str | None = None
) -> tuple[list[str], list[str]]:
    """(the HTML of `markdown`'s blocks, navigation links). The overview (`anchor` None) keeps its
    heading levels and lists its h2s; a spec's page (`anchor`: its id) goes one level down, its
    title taking the id `anchor` and listed, its other headings `anchor-<slug>`."""
    body, navigation, local = [], [], set()
    for kind, lines in _blocks(markdown.splitlines()):
        if kind == "heading":
            match = _HEADING.match(lines[0])
            level, text = len(match["level"]), match["text"]
            if anchor is None:
                slug = _slug(text, used)
            else:
                level = min(level + 1, 6)
                slug = anchor if level == 2 else _slug(f"{anchor}-{_slug(text, local)}", used)
            if level == 2:
                navigation.append(f'<a href="#{slug}">{_inline(text)}</a>')
            body.append(f'<h{level} id="{slug}">{_inline(text, retarget)}</h{level}>')
        elif kind == "table":
            body.append(_table(lines, retarget))
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(line[2:], retarget)}</li>" for line in lines) + "</ul>")
        elif kind == "image":
            match = _IMAGE.match(lines[0].strip())
            svg = figure_svg(match["name"])
            alt = html.escape(match["alt"])
            if svg is None and not safe_target(match["name"]):
                body.append(f"<p>{html.escape(lines[0].strip())}</p>")
                continue
            content = svg if svg is not None else f'<img src="{html.escape(match["name"])}" alt="{alt}">'
            body.append(f'<figure role="img" aria-label="{alt}">{content}<figcaption>{alt}</figcaption></figure>')
        else:
            body.append(f"<p>{_inline(' '.join(line.strip() for line in lines), retarget)}</p>")
    return body, navigation


def _document(title: str, navigation: list[str], body: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><nav aria-label=\"sections\">{''.join(navigation)}</nav></header>\n<main id=\"top\">\n"
        + "\n".join(body) + "\n</main>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def markdown_to_html(markdown: str, figure_svg: Callable[[str], str | None], title: str) -> str:
    """The page for one Markdown document; `figure_svg(name)` gives the SVG of the figure file an
    image names (None: linked as an image instead). Every h2 is listed in the navigation bar."""
    body, navigation = _html_blocks(markdown, figure_svg, lambda target: target, set())
    return _document(title, navigation, body)


def leaderboard_html(
    front: str, pages: Mapping[str, str], front_name: str, figure_svg: Callable[[str], str | None], title: str
) -> str:
    """The leaderboard's page: the front page `front` (the Markdown file `front_name`), then each of
    `pages` (file name -> Markdown, beside it) as a section; a link to one of these files becomes a
    link to its section, a link to a heading of one to that heading."""
    used = {"top"}
    anchors = {name: _slug(name.removesuffix(".md"), used) for name in pages}

    def retarget(target: str) -> str:
        name, _, fragment = target.partition("#")
        if name == front_name:
            return f"#{fragment}" if fragment else "#top"
        if name in anchors:
            return f"#{anchors[name]}-{fragment}" if fragment else f"#{anchors[name]}"
        return target

    body, overview = _html_blocks(front, figure_svg, retarget, used)
    navigation = ['<a class="overview" href="#top">Overview</a>', *overview]
    for name, markdown in pages.items():
        section, titles = _html_blocks(markdown, figure_svg, retarget, used, anchor=anchors[name])
        section = [line.replace('href="#top">', 'class="back" href="#top">', 1) if index == 0 else line
                   for index, line in enumerate(section)]
        body += [f'<section class="spec" aria-labelledby="{anchors[name]}">', *section, "</section>"]
        navigation += titles
    return _document(title, navigation, body)
