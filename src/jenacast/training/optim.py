"""Optimizers with Keras' update rules and defaults."""

from __future__ import annotations

import torch

OPTIMIZERS = ("rmsprop", "adam")


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop exactly as Keras 3 updates it (rho 0.9, epsilon 1e-7, no momentum):

        v <- rho * v + (1 - rho) * g^2
        w <- w - lr * g / sqrt(v + epsilon)

    (TF 2.6, which the book ran, divides by ``sqrt(v) + epsilon`` instead; with epsilon 1e-7 the
    two differ only where ``v`` is below about 1e-12.) ``torch.optim.RMSprop``'s defaults differ
    (lr 1e-2, alpha 0.99, eps 1e-8 outside the root), hence this class.
    """

    def __init__(self, params, lr: float = 1e-3, rho: float = 0.9, epsilon: float = 1e-7):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}.")
        super().__init__(params, dict(lr=lr, rho=rho, epsilon=epsilon))

    def init_state(self) -> None:
        """Create every trainable parameter's velocity (zeros) now rather than at its first update, so that a
        CUDA graph captured later sees the tensors it updates (``training.step``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.requires_grad:
                    self._velocity(p)

    def _velocity(self, p: torch.Tensor) -> torch.Tensor:
        state = self.state[p]
        if "velocity" not in state:
            state["velocity"] = torch.zeros_like(p)
        return state["velocity"]

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            velocities = [self._velocity(p) for p in params]
            rho, lr, eps = group["rho"], group["lr"], group["epsilon"]
            torch._foreach_mul_(velocities, rho)
            torch._foreach_addcmul_(velocities, grads, grads, value=1 - rho)
            denominators = torch._foreach_add(velocities, eps)
            torch._foreach_sqrt_(denominators)
            torch._foreach_addcdiv_(params, grads, denominators, value=-lr)
        return loss


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """``rmsprop`` (the book's, Keras rule) or ``adam`` (Keras defaults: betas 0.9/0.999, epsilon 1e-7)."""
    if name == "rmsprop":
        return KerasRMSprop(params, lr=lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}.")
