"""Head pose from 106 landmarks, and a rule that says whether a face's points can be trusted.

Pose: `cv2.solvePnP` fits a 3-D mean face to the 2-D points. The 3-D reference is the
template of `pipnet106.face3d` (written for this project, same licence as the package): 106
points with depth, symmetric under the layout's flip map. Only points that sit on the face
surface are used (brows, nose, eyes, mouth, chin); the contour's other points follow the
silhouette, which slides over the head as it turns, so they would bias the yaw.

The camera is a virtual one centred on the face, with a focal length of 20 face widths: close
to an orthographic view of that face alone. The pose is therefore relative to the line of sight
to the face (what matters for "is this face turned away"), whatever its place in the photo, and
needs no camera calibration.

Angles, in degrees, in the image's frame (the conventions of `synth.render_face`):
  yaw   > 0: the nose turns toward the image's right (the subject's left),
  pitch > 0: the face looks up,
  roll  > 0: the face turns clockwise on screen.

Reliability (`reliability`): a face is reliable when its mean point confidence, its pose, its
size and the agreement of its points with its detector box are all inside the limits of
`ReliabilityRule`; the reasons for an unreliable face are named.
This module needs only numpy and OpenCV (no torch), so the ONNX-only path has it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..layout import Layout, get_layout

# lapa106 points on the face surface: chin 16, brows 33-50, nose 51-65, eye contours 66-73 / 75-82,
# mouth outer corners and lips 84-95. Eye centres and pupils follow the gaze, the inner mouth the jaw.
POSE_POINTS = (16, *range(33, 51), *range(51, 66), *range(66, 74), *range(75, 83), *range(84, 96))

FOCAL_FACES = 20.0
"""Virtual focal length in face widths: far enough for an almost orthographic view."""


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees (see the module docstring for the signs)."""

    yaw: float
    pitch: float
    roll: float

    def to_dict(self, decimals: int = 1) -> dict:
        return {k: round(float(v), decimals) for k, v in asdict(self).items()}


@lru_cache(maxsize=1)
def reference_3d() -> np.ndarray:
    """(106, 3) mean face in OpenCV's camera axes (x right, y down, z away from the camera),
    centred on its pose points, in template units (about 0.8 = ear to ear)."""
    from ..face3d import template3d

    p = np.array(template3d(), dtype=np.float64)
    p[:, 2] *= -1.0  # synth's z points toward the camera
    return p - p[list(POSE_POINTS)].mean(axis=0)


def _angles(r_cv: np.ndarray) -> Pose:
    """OpenCV rotation -> (yaw, pitch, roll) with synth's composition R = R_roll @ R_pitch @ R_yaw."""
    f = np.diag([1.0, 1.0, -1.0])
    m = f @ r_cv @ f  # back to z toward the camera
    pitch = math.asin(float(np.clip(m[2, 1], -1.0, 1.0)))
    yaw = math.atan2(-m[2, 0], m[2, 2])
    roll = math.atan2(-m[0, 1], m[1, 1])
    return Pose(math.degrees(yaw), math.degrees(pitch), math.degrees(roll))


def head_pose(points: np.ndarray, layout: Layout | str = "lapa106") -> Pose | None:
    """Yaw, pitch and roll of one face from its (N, 2) landmarks in pixels.

    None when the layout has no 3-D reference (only lapa106 has one), or the points are not finite
    or collapse to nothing (no pose can be fitted).
    """
    lay = get_layout(layout) if isinstance(layout, str) else layout
    if lay.name != "lapa106":
        return None
    idx = list(POSE_POINTS)
    img = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if img.shape[0] != lay.num_points or not np.isfinite(img[idx]).all():
        return None
    img = img[idx]
    obj = reference_3d()[idx]
    width = float(np.ptp(img[:, 0]) + np.ptp(img[:, 1])) / 2.0
    if width < 1e-3:
        return None
    focal = FOCAL_FACES * width
    centre = img.mean(axis=0)
    cam = np.array([[focal, 0.0, centre[0]], [0.0, focal, centre[1]], [0.0, 0.0, 1.0]])
    # start facing the camera at the distance where the template has the face's size
    obj_width = float(np.ptp(obj[:, 0]) + np.ptp(obj[:, 1])) / 2.0
    rvec = np.zeros((3, 1))
    tvec = np.array([[0.0], [0.0], [FOCAL_FACES * obj_width]])
    ok, rvec, tvec = cv2.solvePnP(obj.reshape(-1, 1, 3), img.reshape(-1, 1, 2), cam, None, rvec, tvec,
                                  useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or not np.isfinite(rvec).all():
        return None
    r, _ = cv2.Rodrigues(rvec)
    if tvec[2, 0] < 0:  # the mirror solution behind the camera
        return None
    return _angles(r)


@dataclass(frozen=True)
class ReliabilityRule:
    """Limits a face must meet for its points to be trusted by an app that warps faces.

    Measured on the shipped starters: frontal faces score a mean point confidence of 0.6-0.8,
    profiles 0.3-0.5 (v2) or 0.2-0.45 (v1, which drew a frontal contour on them); beyond about
    45 degrees of yaw one eye and half the contour are hidden and the 106-point model has no way to place them.
    Faces smaller than `min_size` pixels (sqrt of the landmark box area) are too small for
    their points to be placed to a useful fraction of the face.

    `min_box_agreement`: the points' own box must overlap (IoU) the landmark box the detector's box
    stands for (`predict.Face.box_agreement`) at least this much. Points that wandered from their
    box (onto a neighbouring face, or spread over a hand) are not the face the detector found; on
    the 24 shared photos every face checked by eye scores 0.51 or more, a refined proposal whose
    points slid onto the next face 0.34.
    """

    min_conf: float = 0.5
    max_yaw: float = 45.0
    max_pitch: float = 35.0
    min_size: float = 20.0
    min_box_agreement: float = 0.45


DEFAULT_RULE = ReliabilityRule()


def reliability(conf: np.ndarray, pose: Pose | None, size: float,
                rule: ReliabilityRule = DEFAULT_RULE, agreement: float | None = None) -> tuple[bool, list[str]]:
    """(reliable, reasons it is not): low point confidence, turned too far, too small, points off
    their box.

    `conf`: (N,) point confidences; `size`: sqrt(w*h) of the landmark box in pixels; `agreement`:
    IoU of the points' box with the landmark box their detector box stands for (None: the box is
    not a detector's, e.g. given by the user or a video track's own). A face whose pose could not
    be fitted is judged on the rest. Each value is compared as it is printed in the reason (rounded),
    so a reason never reads like "20 px < 20".
    """
    reasons = []
    mean_conf = round(float(np.mean(conf)), 2) if np.size(conf) else 0.0
    if not mean_conf >= rule.min_conf:
        reasons.append(f"low confidence {mean_conf:.2f} < {rule.min_conf:g}")
    if pose is not None:
        yaw, pitch = round(float(pose.yaw), 1), round(float(pose.pitch), 1)
        if abs(yaw) > rule.max_yaw:
            reasons.append(f"yaw {yaw:.1f} beyond {rule.max_yaw:g}")
        if abs(pitch) > rule.max_pitch:
            reasons.append(f"pitch {pitch:.1f} beyond {rule.max_pitch:g}")
    size = round(float(size), 1)
    if not size >= rule.min_size:
        reasons.append(f"small face {size:.1f} px < {rule.min_size:g}")
    if agreement is not None:
        agreement = round(float(agreement), 2)
        if not agreement >= rule.min_box_agreement:
            reasons.append(f"points off their box (overlap {agreement:.2f} < {rule.min_box_agreement:g})")
    return not reasons, reasons


__all__ = ["Pose", "POSE_POINTS", "head_pose", "reference_3d", "ReliabilityRule", "DEFAULT_RULE", "reliability"]
