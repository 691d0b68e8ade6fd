"""User-facing errors.

Anything a person can cause (a bad file, a bad option, a failed download) raises a
``JenacastError`` subclass whose message is one sentence naming the culprit and the fix.
The CLI prints that sentence and exits non-zero; any other exception is a bug.
"""


class JenacastError(Exception):
    """Base class of errors caused by input, not by a bug."""


class DataError(JenacastError, ValueError):
    """A data file, archive or download is missing, malformed or inconsistent."""


class DownloadError(DataError):
    """No mirror delivered a valid dataset."""
