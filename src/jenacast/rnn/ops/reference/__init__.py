"""The specification: each cell as a plain autograd loop over time. Every other tier is tested against it."""
