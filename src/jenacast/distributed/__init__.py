"""Beyond one process: the chapter's runs as Ray tasks, hyper-parameter sweeps on Ray Tune (docs/ray.md).

Ray is an optional extra (``pip install 'jenacast[ray]'``); nothing outside this package imports it. A run
trained on Ray writes the same run folder as one trained in the chapter's own process, in place: the output
folder must be storage that every node sees at the same path (one machine's disk, or a shared file system).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jenacast.errors import ConfigError, literal

INSTALL = "pip install 'jenacast[ray]'"


def require_ray(flag: str = "{ray}") -> None:
    """Refuse, in one sentence naming ``flag`` (a worded template), to go on without Ray installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError(f"{flag} needs Ray, which is not installed here: {INSTALL}.", worded=True) from None


@contextlib.contextmanager
def connected(address: str, *, log_to_driver: bool = True) -> Iterator[None]:
    """Ray connected inside the block: ``"local"`` starts a cluster on this machine (its cores, its GPUs),
    ``"auto"`` joins the one ``ray start`` runs here, anything else is a cluster's address (``HOST:PORT`` or
    ``ray://HOST:PORT``). A connection made here is closed after the block; one the program already holds is
    used as it is. ``log_to_driver``: the workers' lines (each epoch) printed here."""
    require_ray()
    import ray

    if ray.is_initialized():
        yield
        return
    if address not in ("local", "auto"):
        _check_reachable(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=log_to_driver)
        else:
            ray.init(address=address, log_to_driver=log_to_driver)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError or ValueError, worded for its own logs
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160].rstrip(".")
        hint = "start one with `ray start --head`, or use {ray} local" if address == "auto" else "check {ray}"
        raise ConfigError(
            f"could not reach a Ray cluster at {literal(address)} ({literal(reason)}); {hint}.", worded=True
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Refuse at once an address where nothing listens (Ray itself would retry for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{{ray}} {literal(address)} is not local, auto or HOST:PORT.", worded=True)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(
            f"nothing answers at {literal(address)} ({literal(exc.strerror or exc)}); start a Ray cluster there "
            "with `ray start --head`, or check {ray}.",
            worded=True,
        ) from None


def unwrapped(exc: BaseException) -> BaseException:
    """The exception a Ray task raised, as its own class when it is one of jenacast's (so that the command line
    reports it in one sentence), else ``exc`` itself."""
    from jenacast.errors import JenacastError

    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, JenacastError) else exc
