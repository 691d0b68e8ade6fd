"""The ``cpu`` tier: fused Numba kernels for the CPU (float32); the design is in ``docs/kernels.md``.

``lstm`` and ``gru`` hold each cell's kernels, ``layer`` the whole layers (the input projection inside the
kernels) and their autograd; ``common``, ``masks``, ``simd`` and ``vector`` what both cells share. Importing
this package needs no Numba: the tier's modules import it, and the registry asks for them only when the
tier is used.
"""

from jenacast.rnn.ops.cpu import cache

cache.configure()  # Numba reads its cache folder once, when it is first imported
