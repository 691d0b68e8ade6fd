"""The readable tier: each cell with a hand-written backward in torch, the structure the fused kernels port."""
