"""The report: results directories gathered, fitted and compared, rendered as a Markdown
leaderboard with its figures or as one self-contained HTML page."""

from ._claims import spec_claims as spec_claims
from ._collect import SpecSummary as SpecSummary
from ._collect import load_results as load_results
from ._collect import summarize as summarize
from ._leaderboard import leaderboard_is_current as leaderboard_is_current
from ._leaderboard import render_leaderboard as render_leaderboard
from ._leaderboard import write_html_leaderboard as write_html_leaderboard
from ._leaderboard import write_leaderboard as write_leaderboard
from ._sizing import size_study as size_study
from ._sizing import sizing_text as sizing_text
from ._terminal import exponents_text as exponents_text
