"""The errors ntkbench reports to users, each with its exit code.

The CLI turns every `NtkbenchError` into its message and exit code, never a
traceback: 2 for input the user can fix (a spec, a command line, missing data
files), 1 for a failure at run time.
"""

from __future__ import annotations

import dataclasses


class NtkbenchError(Exception):
    """Base class: an error with a user-facing message and an exit code."""

    exit_code: int = 1


class InputError(NtkbenchError):
    """Invalid input the user can fix: exit code 2."""

    exit_code = 2


class EnvironmentProblem(NtkbenchError):
    """Something missing from the installation (a package, a device): exit code 1."""

    exit_code = 1


class RunFailure(NtkbenchError):
    """The run cannot go on (a disk full, an unwritable directory): exit code 1, records kept."""

    exit_code = 1


class DataUnavailable(InputError):
    """A dataset's files are absent and cannot be downloaded: exit code 2, with instructions."""


@dataclasses.dataclass(frozen=True)
class SpecProblem:
    """One problem in a spec file, located as precisely as the YAML allows."""

    file: str
    key: str
    reason: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"


class SpecError(InputError):
    """A spec failed validation; carries every problem found, not only the first, those located in
    the file in the order of their lines and columns, then the others in the order found."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0))
        super().__init__("\n".join(str(problem) for problem in self.problems))


class CellFailure(Exception):
    """Raised by a learner when a cell cannot produce a result (divergence, failed solve).

    The runner records the cell as failed with this message and carries on.
    """
