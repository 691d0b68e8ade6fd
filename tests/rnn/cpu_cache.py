"""Imported by test files that run the cpu tier only inside tests: the tier's package, imported before any test's
isolated cache folder is set, fixes Numba's cache in the repository's pytest cache, so that the kernels compile
once, not in every run's temporary folder (a minute and a half of compiling each time)."""

from jenacast.rnn.ops import available

if available("cpu"):
    import jenacast.rnn.ops.cpu  # noqa: F401
