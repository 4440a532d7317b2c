"""The report: results directories gathered, fitted and compared, rendered as a Markdown
leaderboard with its figures or as one self-contained HTML page."""

from ._leaderboard import stale_pages as stale_pages
from ._leaderboard import render_leaderboard as render_leaderboard
from ._leaderboard import write_html_leaderboard as write_html_leaderboard
from ._leaderboard import write_leaderboard as write_leaderboard
from ._terminal import exponents_text as exponents_text
