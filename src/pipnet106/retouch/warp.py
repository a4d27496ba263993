"""A retouch's shape adjustments as ONE smooth displacement field per face (see `shape.field`).

The primitives of each adjustment are `shape.primitives`; how a field is built, kept free of
fold-over and applied by one remap is `shape.field`.
"""
from __future__ import annotations


import numpy as np

from ..shape.field import FaceField, apply_field, field_from_primitives  # noqa: F401  (apply_field: the retouch's)
from ..shape.frame import FaceFrame, face_frame, face_points
from ..shape.primitives import shape_primitives
from .masks import VIS_WARP_RADIUS, visible_weight_at
from .params import Adjustments


def face_field(face, adj: Adjustments, shape: tuple[int, ...], frame: FaceFrame | None = None,
               visibility=None) -> FaceField | None:
    """The fused coarse displacement field of one face, or None when nothing moves.

    With per-point `visibility` (default: the face's own `visibility`, when it has one) the field
    fades near occluded points (`masks.visible_weight_at`, over VIS_WARP_RADIUS): a hand over the
    cheek is not dragged.
    """
    pts, _ = face_points(face)
    frame = frame or face_frame(face)
    if frame.weight <= 0:
        return None
    fld = field_from_primitives(shape_primitives(pts, frame, adj), frame, shape)
    vis = getattr(face, "visibility", None) if visibility is None else visibility
    if fld is None or vis is None:
        return fld
    w = visible_weight_at(pts, vis, frame.scale, *fld.sample_points(), radius=VIS_WARP_RADIUS)
    return fld if w is None else fld.faded(w)


def template_shift(adj: Adjustments, face_width: float = 180.0) -> float:
    """Largest displacement (pixels) `adj` makes on a frontal face `face_width` px wide (jaw to jaw).

    The face is the synthetic template (`synth.template`), so the number depends on nothing but
    the adjustment: it is how `retouch --list` and docs/retouching.md say how strong each preset is.
    """
    from ..face3d import template

    t = template()
    pts = (t - t.min(0)) * (face_width / float(np.hypot(*(t[32] - t[0])))) + face_width
    size = int(np.ceil(pts.max())) + int(face_width)
    fld = face_field(pts, adj, (size, size, 3))
    return 0.0 if fld is None else fld.max_displacement()
