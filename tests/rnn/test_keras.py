"""Against Keras 3 itself (torch backend): imported weights, identical masks, identical outputs."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytestmark = pytest.mark.keras

from jenacast.rnn import GRU, LSTM, Bidirectional, DropoutMasks  # noqa: E402

TOL = dict(rtol=2e-5, atol=2e-5)


def keras_out(layer, x, training=False):
    out = layer(x, training=training)
    return (
        [keras.ops.convert_to_numpy(o) for o in out]
        if isinstance(out, (list, tuple))
        else keras.ops.convert_to_numpy(out)
    )


def ours(cls, keras_layer, **kwargs):
    layer = cls(kwargs.pop("input_size"), keras_layer.units, **kwargs)
    layer.load_keras_weights(keras_layer.get_weights())
    return layer


def randomise_bias(keras_layer):
    weights = keras_layer.get_weights()
    weights[2] = np.random.default_rng(0).normal(size=weights[2].shape).astype(np.float32)
    keras_layer.set_weights(weights)


CASES = [(rs, gb) for rs in (False, True) for gb in (False, True)]


@pytest.mark.parametrize("return_sequences,go_backwards", CASES)
def test_lstm_matches_keras(return_sequences, go_backwards):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(4, 9, 5)).astype(np.float32)
    k = keras.layers.LSTM(6, return_sequences=return_sequences, go_backwards=go_backwards)
    k.build(x.shape)
    randomise_bias(k)
    layer = ours(LSTM, k, input_size=5, return_sequences=return_sequences, go_backwards=go_backwards).eval()
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), keras_out(k, x), **TOL)


@pytest.mark.parametrize("return_sequences,go_backwards", CASES)
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_matches_keras(return_sequences, go_backwards, reset_after):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(2).normal(size=(3, 8, 4)).astype(np.float32)
    k = keras.layers.GRU(5, return_sequences=return_sequences, go_backwards=go_backwards, reset_after=reset_after)
    k.build(x.shape)
    randomise_bias(k)
    layer = ours(
        GRU, k, input_size=4, return_sequences=return_sequences, go_backwards=go_backwards, reset_after=reset_after
    ).eval()
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), keras_out(k, x), **TOL)


@pytest.mark.parametrize("cls,keras_cls,gates", [(LSTM, "LSTM", 4), (GRU, "GRU", 3)])
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.5])
def test_dropout_masks_act_as_in_keras(cls, keras_cls, gates, recurrent_dropout):
    """Keras' cell given our masks (its cache of the batch's masks) computes what we compute."""
    keras.utils.set_random_seed(0)
    b, t, f, h = 4, 7, 5, 6
    x = np.random.default_rng(3).normal(size=(b, t, f)).astype(np.float32)
    k = getattr(keras.layers, keras_cls)(h, dropout=0.3, recurrent_dropout=recurrent_dropout, return_sequences=True)
    k.build(x.shape)
    randomise_bias(k)
    layer = ours(cls, k, input_size=f, dropout=0.3, recurrent_dropout=recurrent_dropout, return_sequences=True).train()
    torch.manual_seed(4)
    masks = layer.sample_masks(torch.from_numpy(x))
    if recurrent_dropout:  # Keras' per-gate cell: lists of masks
        assert masks.input.shape == (gates, b, f) and masks.recurrent.shape == (gates, b, h)
        k.cell._dropout_mask = list(masks.input)
        k.cell._recurrent_dropout_mask = list(masks.recurrent)
    else:  # Keras' fused cell: one input mask
        assert masks.input.shape == (b, f) and masks.recurrent is None
        k.cell._dropout_mask = masks.input
    expected = keras_out(k, x, training=True)
    got = layer(torch.from_numpy(x), masks=masks).detach().numpy()
    np.testing.assert_allclose(got, expected, **TOL)
    assert not np.allclose(got, keras_out(k, x, training=False), atol=1e-3)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_keras(return_sequences):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(5).normal(size=(3, 10, 4)).astype(np.float32)
    k = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=return_sequences))
    k.build(x.shape)
    bi = Bidirectional(LSTM(4, 5, return_sequences=return_sequences)).eval()
    bi.load_keras_weights(k.get_weights())
    np.testing.assert_allclose(bi(torch.from_numpy(x)).detach().numpy(), keras_out(k, x), **TOL)
    # and the other way round: our weights into Keras
    k.set_weights(Bidirectional(LSTM(4, 5, return_sequences=return_sequences)).keras_weights())
    mine = Bidirectional(LSTM(4, 5, return_sequences=return_sequences)).eval()
    mine.load_keras_weights(k.get_weights())
    np.testing.assert_allclose(mine(torch.from_numpy(x)).detach().numpy(), keras_out(k, x), **TOL)


def test_stacked_gru_with_recurrent_dropout_matches_keras():
    """The book's stacked GRU, layer by layer, in training mode with shared masks."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(6).normal(size=(2, 12, 14)).astype(np.float32)
    k1 = keras.layers.GRU(8, recurrent_dropout=0.5, return_sequences=True)
    k2 = keras.layers.GRU(8, recurrent_dropout=0.5)
    k1.build(x.shape)
    k2.build((2, 12, 8))
    g1 = ours(GRU, k1, input_size=14, recurrent_dropout=0.5, return_sequences=True).train()
    g2 = ours(GRU, k2, input_size=8, recurrent_dropout=0.5).train()
    m1 = g1.sample_masks(torch.from_numpy(x))
    m2 = DropoutMasks(recurrent=torch.bernoulli(torch.full((3, 2, 8), 0.5)) / 0.5)
    k1.cell._recurrent_dropout_mask = list(m1.recurrent)
    k2.cell._recurrent_dropout_mask = list(m2.recurrent)
    expected = keras_out(k2, k1(x, training=True), training=True)
    got = g2(g1(torch.from_numpy(x), masks=m1), masks=m2).detach().numpy()
    np.testing.assert_allclose(got, expected, **TOL)
