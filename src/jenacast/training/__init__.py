"""Training: the trainer, the Keras optimizer rule, checkpoints and run folders."""

from jenacast.evaluate import evaluate_run, evaluate_split
from jenacast.training.config import TrainConfig
from jenacast.training.optim import KerasRMSprop, make_optimizer
from jenacast.training.trainer import TrainingError, fit

__all__ = ["KerasRMSprop", "TrainConfig", "TrainingError", "evaluate_run", "evaluate_split", "fit", "make_optimizer"]
