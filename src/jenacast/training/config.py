"""Training settings, frozen and serialisable (they go into config.json and every checkpoint)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from jenacast.data.options import DataOptions
from jenacast.errors import ConfigError, literal
from jenacast.models import MODELS, Shape, build, model_shape
from jenacast.training.optim import OPTIMIZERS

MAX_SEED = 2**40 - 1  # the epochs' shuffling seeds (seed * 100,003 + epoch) must fit torch's 64 bits


@dataclass(frozen=True, kw_only=True)
class TrainConfig(DataOptions):
    """One training run: the data options it inherits (flat, so that config.json is one level and older
    folders' files still read), and the training's. ``epochs=None`` means the book's number for the model.

    ``max_batches`` caps every loop (training, validation, test) for smoke runs; ``patience``
    stops after that many epochs without a better validation loss (None: never). ``units``, ``dropout`` and
    ``recurrent_dropout`` change the model's shape (None: the book's; see ``models.model_shape``).
    """

    model: str
    epochs: int | None = None
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "rmsprop"
    patience: int | None = None
    seed: int = 0
    device: str = "auto"
    backend: str = "auto"
    max_batches: int | None = None
    dataset: str = "synthetic"  # "synthetic", "jena" or a table's path
    units: int | None = None
    dropout: float | None = None
    recurrent_dropout: float | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; expected one of {', '.join(MODELS)}.")
        if self.epochs is None:
            object.__setattr__(self, "epochs", MODELS[self.model].epochs)
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(
                    f"{{{name}}} must be a positive integer, got {literal(repr(getattr(self, name)))}.", worded=True
                )
        for name in ("patience", "max_batches"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{{{name}}} must be a positive integer, got {literal(repr(value))}.", worded=True)
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(
                f"{{seed}} must be an integer from 0 to {MAX_SEED:,}, got {literal(repr(self.seed))}.", worded=True
            )
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ConfigError(f"{{lr}} must be a positive number, got {literal(repr(self.lr))}.", worded=True)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}.")
        self.shape()  # refuses units or rates the model cannot take
        super().__post_init__()  # the data options: checked, and lists (from JSON) made tuples

    def shape(self) -> Shape:
        """The model's units and rates: the book's, or those this run sets."""
        return model_shape(self.model, units=self.units, dropout=self.dropout, recurrent_dropout=self.recurrent_dropout)

    def new_model(self, splits):
        """A fresh model of this run for ``splits``' windows (its features and steps), on the CPU."""
        return build(
            self.model,
            splits.train.data.shape[1],
            steps=splits.spec.sequence_length,
            backend=self.backend,
            shape=self.shape(),
        )

    def data_options(self) -> DataOptions:
        return DataOptions.pick(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def same_run_as(self, other: TrainConfig) -> bool:
        """Whether ``other`` describes the same training (so its checkpoint can be resumed)."""
        return self.to_dict() == other.to_dict()

    def differences(self, other: TrainConfig) -> str:
        """The settings that differ, as ``"lr 0.001 there, 0.01 here; epochs 10 there, 3 here"`` (self is "there")."""
        mine, theirs = self.to_dict(), other.to_dict()
        return "; ".join(
            f"{name} {mine[name]!r} there, {theirs[name]!r} here" for name in mine if mine[name] != theirs[name]
        )
