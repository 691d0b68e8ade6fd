"""jenacast: the advanced-RNN chapter of Deep Learning with Python, reproducible and fast."""

__version__ = "0.1.0"
