"""Retouching driven by the 106 points: face shape, eyes, nose, lips, brows, makeup, skin.

numpy + OpenCV only (no torch). The input image is never modified.

    from pipnet106 import Landmarker
    from pipnet106.retouch import Retoucher
    out = Retoucher(Landmarker.default()).apply(image, face_slim=0.3, eye_size=0.2)

Modules: `params` (the adjustments, their signs, presets), `warp` (one fused displacement field
per face, built with `pipnet106.shape`), `masks` (soft region masks, the visibility fade), `makeup`
(lipstick, blush, skin smoothing, skin tone), `beauty` (teeth, eyes, under-eyes, eyeliner, eyeshadow,
brow tint, lenses), `retoucher` (the API), `video` (tracked faces with ramps). The command is
`pipnet106.cli.retouch`.
"""
from .params import PARAMS, PRESETS, SHAPE_PARAMS, Adjustments, get_preset, parse_color
from .retoucher import FaceReport, Retoucher, retouch, retouch_report

__all__ = ["Adjustments", "PARAMS", "PRESETS", "SHAPE_PARAMS", "get_preset", "parse_color",
           "Retoucher", "retouch", "retouch_report", "FaceReport", "VideoRetoucher"]


def __getattr__(name: str):
    # the video part imports the tracker (and the landmarker module): only when asked for
    if name == "VideoRetoucher":
        from .video import VideoRetoucher

        return VideoRetoucher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
