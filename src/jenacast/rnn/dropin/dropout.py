"""The variational masks of a stacked, possibly bidirectional layer: one :class:`DropoutMasks` per layer and
direction, ``masks[layer][direction]``, gates in torch's order (``i, f, g, o``; ``r, z, n``).

Each layer's input mask has that layer's input width (``input_size``, then ``D * hidden_size``). Drawn as
``jenacast.rnn.masks.sample_masks`` draws a Keras layer's (per gate or shared, inverted scaling), once per call
and fixed across time steps.
"""

from __future__ import annotations

from jenacast.rnn.masks import DropoutMasks, sample_masks


def draw(module, batch: int, like) -> list[list[DropoutMasks]]:
    """Fresh masks for a batch of ``batch`` sequences, in ``like``'s dtype and device."""
    return [
        [
            sample_masks(
                gates=module.GATES,
                batch=batch,
                input_size=module.layer_input_size(layer),
                units=module.hidden_size,
                dropout=module.input_dropout,
                recurrent_dropout=module.recurrent_dropout,
                mask_mode=module.mask_mode,
                like=like,
            )
            for _ in range(module.num_directions)
        ]
        for layer in range(module.num_layers)
    ]


def checked(module, masks, batch: int) -> list[list[DropoutMasks]]:
    """Explicit ``masks`` checked against the module's layers, directions and the batch."""
    layers, directions, gates = module.num_layers, module.num_directions, module.GATES
    shape_ok = isinstance(masks, (list, tuple)) and len(masks) == layers
    shape_ok = shape_ok and all(isinstance(m, (list, tuple)) and len(m) == directions for m in masks)
    if not shape_ok or not all(isinstance(d, DropoutMasks) for m in masks for d in m):
        raise TypeError(
            f"masks must be {layers} list(s) (one per layer) of {directions} DropoutMasks (one per direction), "
            "as sample_masks returns them."
        )
    for layer, per_direction in enumerate(masks):
        widths = (("input", module.layer_input_size(layer)), ("recurrent", module.hidden_size))
        for direction in per_direction:
            for (kind, size), mask in zip(widths, (direction.input, direction.recurrent)):
                if mask is not None and tuple(mask.shape) not in ((batch, size), (gates, batch, size)):
                    raise ValueError(
                        f"layer {layer}'s {kind} dropout mask must have shape [{batch}, {size}] or "
                        f"[{gates}, {batch}, {size}], got {list(mask.shape)}."
                    )
    return [list(m) for m in masks]
