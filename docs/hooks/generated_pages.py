"""MkDocs hooks: the command-line reference from ntkbench's own parser (never copied by hand), the
published leaderboard as one HTML page beside the site (linked, not merged), and docstrings'
doctest examples shown as Python code (Markdown would read `>>>` as nested quotes)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from markdown import Extension
from markdown.preprocessors import Preprocessor
from mkdocs.structure.files import File

MARKER = "<!-- ntkbench-cli -->"
REPO = Path(__file__).resolve().parents[2]


def _commands() -> list[tuple[str, argparse.ArgumentParser]]:
    from ntkbench.cli._main import build_parser

    parser = build_parser()
    parser.prog = "ntkbench"
    (subparsers,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return [("ntkbench", parser)] + [(f"ntkbench {name}", sub) for name, sub in subparsers.choices.items()]


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    sections = []
    for name, parser in _commands():
        parser.prog = name
        help_text = parser.format_help().replace("```", "'''")
        heading = "## `ntkbench`" if name == "ntkbench" else f"## `{name}`"
        sections.append(f"{heading}\n\n```text\n{help_text}```\n")
    return markdown.replace(MARKER, "\n".join(sections))


def on_files(files, config):
    """The leaderboard of `leaderboard/results/`, rendered as one HTML page (`ntkbench leaderboard --html`)."""
    folder = Path(tempfile.mkdtemp(prefix="ntkbench-docs-"))
    page = folder / "leaderboard.html"
    subprocess.run([sys.executable, "-m", "ntkbench.cli", "leaderboard", "--html", str(page)], cwd=REPO, check=True,
                   capture_output=True)
    files.append(File.generated(config, "leaderboard.html", content=page.read_bytes()))
    return files


class _DoctestFences(Preprocessor):
    """Each run of doctest lines (`>>>`, `...` and the output up to a blank line) outside a fence becomes a fenced Python block."""

    def run(self, lines: list[str]) -> list[str]:
        out, fenced, example = [], False, False
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("```"):
                fenced = not fenced
            elif not fenced and not example and stripped.startswith(">>>"):
                example = True
                out.append("```python")
            elif example and not stripped:
                out.append("```")
                example = False
            out.append(re.sub(r"\s+# doctest:.*$", "", line) if example else line)
        if example:
            out.append("```")
        return out


class DoctestFences(Extension):
    def extendMarkdown(self, md) -> None:  # noqa: N802 (Markdown's name)
        md.preprocessors.register(_DoctestFences(md), "doctest_fences", 30)


def on_config(config):
    config.markdown_extensions.append(DoctestFences())
    return config
