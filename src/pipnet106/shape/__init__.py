"""The face's geometry: its own frame, and smooth one-to-one deformations of it.

`frame` places a face (origin, axes, scale, how far its points can be trusted); `field` turns
local primitives (moves and scales inside ellipses) into one backward displacement field, applies
it with one remap and maps points through it exactly; `primitives` builds the primitives of each
named shape change (bigger eyes, wider mouth, ...). The retouch applies them to photos, training
uses them as shape augmentation with exact labels, and evaluation as known changes to measure
whether predicted points follow the face.
"""
