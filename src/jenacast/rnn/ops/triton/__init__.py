"""The ``triton`` tier: persistent fused GPU kernels (``pip install 'jenacast[gpu]'``); the design is in
``docs/kernels.md``.

``lstm`` and ``gru`` dispatch each cell to its kernels of the ``rows`` layout (``lstm_rows``, ``gru_rows``) or
the ``tiles`` layout (``lstm_tiles``, ``gru_tiles``); ``weight_grad`` is the recurrent weight gradient's kernel,
``common`` what they share. Importing this package needs no Triton; its modules do.
"""
