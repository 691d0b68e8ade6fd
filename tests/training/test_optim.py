import os

import numpy as np
import pytest
import torch

from jenacast.training.optim import KerasRMSprop, make_optimizer


def test_one_rmsprop_step_follows_the_keras_rule_by_hand():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    opt = KerasRMSprop([w])  # Keras defaults: lr 1e-3, rho 0.9, epsilon 1e-7
    g = torch.tensor([0.3, -0.04, 2.0], dtype=torch.float64)
    w.grad = g.clone()
    opt.step()
    v = 0.1 * g**2
    expected = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) - 1e-3 * g / torch.sqrt(v + 1e-7)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-12, atol=0)
    w.grad = g.clone()  # a second step uses the decayed velocity
    opt.step()
    v = 0.9 * v + 0.1 * g**2
    expected = expected - 1e-3 * g / torch.sqrt(v + 1e-7)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-12, atol=0)


@pytest.mark.keras
def test_rmsprop_steps_equal_keras_optimizer():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3)]
    var = keras.Variable(start)
    k_opt = keras.optimizers.RMSprop()
    w = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = make_optimizer("rmsprop", [w], 1e-3)
    for g in grads:
        k_opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        w.grad = torch.from_numpy(g)
        opt.step()
    np.testing.assert_allclose(w.detach().numpy(), keras.ops.convert_to_numpy(var), rtol=1e-6, atol=1e-7)


def test_unknown_optimizer_and_bad_lr():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd", [torch.nn.Parameter(torch.zeros(1))], 1e-3)
    with pytest.raises(ValueError, match="lr must be positive"):
        KerasRMSprop([torch.nn.Parameter(torch.zeros(1))], lr=0)
