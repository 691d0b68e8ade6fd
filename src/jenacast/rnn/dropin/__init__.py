"""Drop-in ``nn.LSTM``/``nn.GRU`` with recurrent (variational) dropout, on jenacast's kernels."""

from jenacast.rnn.dropin.modules import VariationalGRU, VariationalLSTM

__all__ = ["VariationalGRU", "VariationalLSTM"]
