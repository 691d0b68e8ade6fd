"""Which data a run trains on and how it is read and windowed: the options a run folder records so that
``evaluate`` (and ``forecast``) rebuild the same windows from the folder alone."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from jenacast.data.durations import parse_duration
from jenacast.errors import ConfigError, literal


@dataclass(frozen=True)
class DataOptions:
    """``dataset``: ``"auto"``, ``"jena"``, ``"synthetic"`` or the path of a station's table. The others are
    ``data.station.load_table``'s options and the window in time (the book's: 120h of history read every 1h,
    the temperature 24h after the last reading)."""

    dataset: str = "auto"
    clean_wind: bool = False
    time_column: str | None = None
    target: str | None = None
    features: tuple[str, ...] | None = None
    missing: tuple[float | str, ...] = ()  # sentinel numbers (-9999) or cell texts (---) that mean missing
    max_gap: str = "3h"
    lookback: str = "120h"
    step: str = "1h"
    horizon: str = "24h"

    def __post_init__(self) -> None:
        if self.features is not None:
            features = tuple(self.features)
            if not features or not all(isinstance(f, str) and f for f in features):
                raise ConfigError(f"{{features}} must name columns, got {literal(repr(self.features))}.", worded=True)
            object.__setattr__(self, "features", features)
        from jenacast.data.station import split_missing

        object.__setattr__(self, "missing", split_missing(self.missing))
        for name in ("max_gap", "lookback", "step", "horizon"):
            parse_duration(getattr(self, name), name)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def pick(cls, source) -> DataOptions:
        """The data options among the attributes of ``source`` (a TrainConfig, ChapterOptions, argparse result)."""
        return cls(**{name: getattr(source, name) for name in cls.names() if hasattr(source, name)})
