"""Retouching driven by the 106 points: face shape, eyes, nose, lips, brows, makeup, skin.

numpy + OpenCV only (no torch). The input image is never modified.

    from pipnet106.predict import Landmarker
    from pipnet106.retouch import Retoucher
    out = Retoucher(Landmarker.default()).apply(image, face_slim=0.3, eye_size=0.2)

Modules: `params` (the adjustments, their signs, presets), `frame` (each face's own
frame, size and reliability), `warp` (one fused displacement field per face, one
remap), `masks` (soft region masks), `makeup` (lipstick, blush, skin smoothing),
`retoucher` (the API), `video` (tracked faces with ramps), `cli` (the command).
"""
from .frame import FaceFrame, face_frame
from .masks import REGIONS, face_mask, region_mask
from .params import PARAMS, PRESETS, SHAPE_PARAMS, Adjustments, get_preset, parse_color
from .retoucher import FaceReport, Retoucher, retouch, retouch_report, select_faces
from .warp import FaceField, apply_field, cell_jacobian_min, face_field


def __getattr__(name: str):
    # the video part imports the tracker (and the landmarker module): only when asked for
    if name in ("VideoRetoucher", "field_shimmer"):
        from . import video

        return getattr(video, name)
    raise AttributeError(name)

__all__ = [
    "Adjustments", "PARAMS", "PRESETS", "SHAPE_PARAMS", "get_preset", "parse_color",
    "FaceFrame", "face_frame", "face_mask", "region_mask", "REGIONS",
    "FaceField", "face_field", "apply_field", "cell_jacobian_min",
    "Retoucher", "retouch", "retouch_report", "FaceReport", "select_faces",
    "VideoRetoucher", "field_shimmer",
]
