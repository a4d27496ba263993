"""The face's own frame: where it is, which way is across and down, how big, how trustworthy.

Every effect is built in this frame (axis `u` along the eye line, `v` toward the
chin, lengths in units of `scale`), so rotated and tilted faces get the same
edit as upright ones, and the same value does the same thing at any size.
`weight` in [0, 1] fades the whole edit out for faces whose points should not be
trusted (low point confidence, head turned far) instead of bending a cheek
along a contour the model guessed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..layout import LAPA106
from ..measures import LEFT_EYE_RING, RIGHT_EYE_RING

# The anchors every effect is built from, read from the LaPa/JD 106 layout (image-view left/right).
_REGION, _POINT = LAPA106.region_index, LAPA106.landmarks
CONTOUR = _REGION("contour")
CHIN = _POINT["chin"]
LEFT_BROW, RIGHT_BROW = _REGION("left_brow"), _REGION("right_brow")
LEFT_BROW_UPPER, RIGHT_BROW_UPPER = LEFT_BROW[:5], RIGHT_BROW[:5]   # upper edges: outer -> inner, inner -> outer
NOSE_AXIS = np.append(_REGION("nose_bridge"), _POINT["subnasale"])
NOSE_LOWER = _REGION("nose_lower")
LEFT_EYE_CENTRE, RIGHT_EYE_CENTRE = _POINT["left_eye_centre"], _POINT["right_eye_centre"]
LEFT_EYE, RIGHT_EYE = LEFT_EYE_RING, RIGHT_EYE_RING      # rings, outer corner first
LEFT_OUTER, RIGHT_OUTER = _POINT["left_eye_outer"], _POINT["right_eye_outer"]
LEFT_INNER, RIGHT_INNER = _POINT["left_eye_inner"], _POINT["right_eye_inner"]
MOUTH_OUTER, MOUTH_INNER = _REGION("mouth_outer"), _REGION("mouth_inner")
MOUTH_LEFT, MOUTH_RIGHT = _POINT["mouth_left"], _POINT["mouth_right"]
NOSE_TIP = _POINT["nose_tip"]
NUM_POINTS = LAPA106.num_points

# Mean point confidence below LO: no edit; above HI: full edit. The starter scores frontal faces
# 0.6-0.8 and profiles 0.3-0.5 (v1, which drew a frontal contour across the cheek: 0.2-0.45); LO is the
# limit below which `pose.DEFAULT_RULE` calls a face unreliable, so the fade reaches 0 there
# instead of dropping from full strength.
CONF_LO, CONF_HI = 0.50, 0.58
# Head yaw / pitch (degrees, from `Face.pose` when present) where the fade starts / ends; beyond
# ~45 degrees of yaw one eye and half the contour are hidden.
YAW_LO, YAW_HI = 30.0, 45.0
PITCH_LO, PITCH_HI = 25.0, 35.0


@dataclass(frozen=True)
class FaceFrame:
    origin: np.ndarray   # (2,) midpoint of the eye centres, image pixels
    u: np.ndarray        # (2,) unit vector image-left eye -> image-right eye
    v: np.ndarray        # (2,) unit vector toward the chin (u turned +90 degrees)
    scale: float         # face size in pixels (outer-eye distance, robust to yaw/pitch)
    weight: float        # 1 = trust the points fully, 0 = do not edit this face

    def local(self, pts: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2) -> face frame (a along u, b along v), in pixels."""
        d = np.asarray(pts, dtype=np.float64) - self.origin
        return np.stack([d[..., 0] * self.u[0] + d[..., 1] * self.u[1], d[..., 0] * self.v[0] + d[..., 1] * self.v[1]], axis=-1)

    def image(self, ab: np.ndarray) -> np.ndarray:
        """Face frame (..., 2) -> image pixels."""
        ab = np.asarray(ab, dtype=np.float64)
        return self.origin + ab[..., :1] * self.u + ab[..., 1:2] * self.v


def face_points(face) -> tuple[np.ndarray, np.ndarray]:
    """(points (106, 2) float64, conf (106,)) from a `Face` or an array in the LaPa/JD 106 layout."""
    layout = getattr(face, "layout", None)
    if layout is not None and getattr(layout, "name", "lapa106") != "lapa106":
        raise UserError(f"retouch needs faces in the lapa106 layout, got {layout.name!r}")
    pts = np.asarray(getattr(face, "points", face), dtype=np.float64)
    if pts.shape != (NUM_POINTS, 2):
        raise UserError(f"retouch needs (106, 2) points in the LaPa/JD order (lapa106); got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise UserError("face points contain NaN or inf")
    conf = getattr(face, "conf", None)
    conf = np.ones(NUM_POINTS) if conf is None else np.asarray(conf, dtype=np.float64).reshape(-1)
    return pts, conf


def _pose_angles(face) -> tuple[float, float] | None:
    """(yaw, pitch) in degrees from `face.pose` when the landmarker provides one
    (an object with .yaw/.pitch, a dict, or a (yaw, pitch, roll) sequence)."""
    pose = getattr(face, "pose", None)
    if pose is None:
        return None
    try:
        if isinstance(pose, dict):
            return float(pose.get("yaw", 0.0)), float(pose.get("pitch", 0.0))
        if hasattr(pose, "yaw"):
            return float(pose.yaw), float(getattr(pose, "pitch", 0.0))
        v = np.asarray(pose, dtype=np.float64).reshape(-1)
        return float(v[0]), float(v[1]) if len(v) > 1 else 0.0
    except (TypeError, ValueError, IndexError):
        return None


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at lo, 1 at hi, smooth in between (smoothstep)."""
    t = min(1.0, max(0.0, (x - lo) / (hi - lo)))
    return t * t * (3 - 2 * t)


def reliability(face, conf: np.ndarray) -> float:
    """How much of the edit a face gets, in [0, 1].

    Smooth fades (no pop when a value crosses a limit): mean point confidence CONF_LO -> CONF_HI,
    head yaw YAW_HI -> YAW_LO and pitch PITCH_HI -> PITCH_LO when the face carries a pose. A face
    flagged `reliable=False` for another reason (e.g. too small) gets nothing.
    """
    w = _ramp(float(np.mean(conf)), CONF_LO, CONF_HI)
    angles = _pose_angles(face)
    if angles is not None and all(np.isfinite(angles)):
        yaw, pitch = angles
        w *= (1.0 - _ramp(abs(yaw), YAW_LO, YAW_HI)) * (1.0 - _ramp(abs(pitch), PITCH_LO, PITCH_HI))
    if w > 0 and getattr(face, "reliable", True) is False:
        return 0.0
    return w


def face_frame(face, weight: float | None = None) -> FaceFrame:
    """The frame of one face (a `Face` or a (106, 2) array); `weight` given skips `reliability`."""
    pts, conf = face_points(face)
    le, re = pts[LEFT_EYE_CENTRE], pts[RIGHT_EYE_CENTRE]
    origin = (le + re) / 2
    d = re - le
    n = float(np.hypot(*d))
    if n < 1e-6:
        raise UserError("face points are degenerate (both eyes at the same place)")
    u = d / n
    v = np.array([-u[1], u[0]])
    outer = float(np.hypot(*(pts[RIGHT_OUTER] - pts[LEFT_OUTER])))
    mouth = (pts[MOUTH_LEFT] + pts[MOUTH_RIGHT]) / 2
    # the outer-eye distance shrinks when the head turns, the eye-mouth distance when it nods:
    # the larger of the two (calibrated to agree on frontal faces) is a steady face size
    scale = max(outer, 1.35 * float(np.hypot(*(mouth - origin))), 1.0)
    return FaceFrame(origin, u, v, scale, reliability(face, conf) if weight is None else float(weight))
