import os

import numpy as np
import pytest
import torch

from jenacast.models import MODELS, build, count_parameters

KERAS_PARAMS = {
    "dense": 26913,
    "conv": 3873,
    "lstm": 2001,
    "lstm-dropout": 6049,
    "stacked-gru": 10977,
    "bidirectional": 4001,
    "reversed-lstm": 2001,
}  # model.count_params() of the book's Keras models


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_parameter_counts_match_the_books_models(name):
    model = build(name, 14)
    assert count_parameters(model) == KERAS_PARAMS[name]
    assert model(torch.randn(3, 120, 14)).shape == (3,)


def test_reversed_lstm_is_the_lstm_on_flipped_windows():
    torch.manual_seed(0)
    plain, reversed_ = build("lstm"), build("reversed-lstm")
    reversed_.load_state_dict(plain.state_dict())
    x = torch.randn(2, 120, 14)
    torch.testing.assert_close(reversed_(x), plain(x.flip(1)))


def test_dropout_only_in_training():
    from jenacast.rnn import LSTM

    torch.manual_seed(0)
    model = build("lstm-dropout")
    without_dropout = LSTM(14, 32)  # the same layer, no recurrent dropout and no Dropout after it
    without_dropout.load_state_dict(model.body.state_dict())
    x = torch.randn(4, 20, 14)
    model.eval()
    torch.testing.assert_close(model(x), model.out(without_dropout(x)).squeeze(-1))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'gru'; expected one of dense, conv"):
        build("gru")


@pytest.mark.keras
def test_dense_and_conv_equal_keras_with_copied_weights():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    L = keras.layers
    x = np.random.default_rng(0).normal(size=(3, 120, 14)).astype(np.float32)
    dense_k = keras.Sequential([keras.Input((120, 14)), L.Flatten(), L.Dense(16, activation="relu"), L.Dense(1)])
    conv_k = keras.Sequential(
        [
            keras.Input((120, 14)),
            L.Conv1D(8, 24, activation="relu"),
            L.MaxPooling1D(2),
            L.Conv1D(8, 12, activation="relu"),
            L.MaxPooling1D(2),
            L.Conv1D(8, 6, activation="relu"),
            L.GlobalAveragePooling1D(),
            L.Dense(1),
        ]
    )
    assert dense_k.count_params() == KERAS_PARAMS["dense"] and conv_k.count_params() == KERAS_PARAMS["conv"]
    dense, conv = build("dense"), build("conv")
    with torch.no_grad():
        k1, b1, k2, b2 = dense_k.get_weights()
        dense.body.hidden.weight.copy_(torch.from_numpy(k1.T)), dense.body.hidden.bias.copy_(torch.from_numpy(b1))
        dense.out.weight.copy_(torch.from_numpy(k2.T)), dense.out.bias.copy_(torch.from_numpy(b2))
        weights = conv_k.get_weights()
        for layer, (k, b) in zip(conv.body.convs, zip(weights[0:6:2], weights[1:6:2])):
            layer.weight.copy_(torch.from_numpy(k.transpose(2, 1, 0)))  # Keras (k, in, out) -> torch (out, in, k)
            layer.bias.copy_(torch.from_numpy(b))
        conv.out.weight.copy_(torch.from_numpy(weights[6].T)), conv.out.bias.copy_(torch.from_numpy(weights[7]))
    for keras_model, model in ((dense_k, dense), (conv_k, conv)):
        expected = keras.ops.convert_to_numpy(keras_model(x))[:, 0]
        np.testing.assert_allclose(model.eval()(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_conv_body_equals_conv1d_layers_in_outputs_and_gradients():
    """The body runs its Conv1d weights as channels-last 2-D convolutions; the plain Conv1d stack is the reference."""
    torch.manual_seed(0)
    body = build("conv").body
    x = torch.randn(5, 120, 14)

    def plain(x):
        x = x.transpose(1, 2)
        x = torch.nn.functional.max_pool1d(torch.relu(body.convs[0](x)), 2)
        x = torch.nn.functional.max_pool1d(torch.relu(body.convs[1](x)), 2)
        return torch.relu(body.convs[2](x)).mean(dim=2)

    upstream = torch.randn(5, 8)
    results = []
    for forward in (body, plain):
        xi = x.clone().requires_grad_(True)
        out = forward(xi)
        grads = torch.autograd.grad(out, [xi, *body.parameters()], upstream)
        results.append((out.detach(), grads))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    for got, want in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_a_shape_changes_units_and_rates_and_the_books_is_the_default():
    from jenacast.models import model_shape

    assert model_shape("lstm-dropout") == MODELS["lstm-dropout"].shape
    wider = build("lstm", 14, shape=model_shape("lstm", units=32, dropout=0.5, recurrent_dropout=0.25))
    assert count_parameters(wider) == KERAS_PARAMS["lstm-dropout"]  # the same layers as lstm-dropout's
    assert wider.body.recurrent_dropout == 0.25 and wider.dropout.p == 0.5
    assert count_parameters(build("bidirectional", 14, shape=model_shape("bidirectional", units=8))) == 2 * (
        4 * (14 + 8 + 1) * 8
    ) + (2 * 8 + 1)
    assert count_parameters(build("dense", 14, shape=model_shape("dense", units=4))) == 120 * 14 * 4 + 4 + 5


@pytest.mark.parametrize(
    "model,change,message",
    [
        ("dense", {"recurrent_dropout": 0.1}, "the dense model has no recurrent layer, so no recurrent_dropout."),
        ("lstm", {"dropout": 1.0}, "dropout must be a rate from 0 to below 1, got 1.0."),
        ("lstm", {"units": 0}, "units must be a positive integer, got 0."),
    ],
)
def test_shapes_that_cannot_be_are_refused_in_one_sentence(model, change, message):
    from jenacast.errors import ConfigError
    from jenacast.training import TrainConfig

    with pytest.raises(ConfigError) as refused:
        TrainConfig(model=model, **change)
    assert str(refused.value) == message
