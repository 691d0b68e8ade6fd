"""Recurrent layers with Keras-exact dropout and recurrent dropout, for PyTorch."""

from jenacast.rnn.dropin import VariationalGRU, VariationalLSTM
from jenacast.rnn.layers import GRU, LSTM, Bidirectional
from jenacast.rnn.masks import DropoutMasks, sample_masks
from jenacast.rnn.ops import BACKENDS

__all__ = [
    "BACKENDS",
    "GRU",
    "LSTM",
    "Bidirectional",
    "DropoutMasks",
    "VariationalGRU",
    "VariationalLSTM",
    "sample_masks",
]
