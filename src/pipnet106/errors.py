"""The one exception type users see.

Anything raised as `UserError` is printed by the CLI as a single line
(``pipnet106: error: <message>``) instead of a traceback. Messages name the
file and the problem.
"""


class UserError(Exception):
    """Bad input, bad config or a wrong file: a one-line message for the user."""


class SampleError(UserError):
    """One bad sample in a batch job: reported and skipped, the job goes on.

    `reason` is a short key used for per-reason counts in summaries.
    """

    def __init__(self, path: object, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))
