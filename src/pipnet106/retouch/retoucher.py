"""Retouch an image from its faces' points: `retouch(image, faces, adjustments)` and `Retoucher`.

Order per image: makeup first (on the input's own geometry, where the masks fit),
then each face's fused shape field, one remap per face; the warp then carries
the lipstick along with the lips. The input array is never modified.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from ..errors import UserError
from . import beauty, makeup
from ..shape.frame import FaceFrame, face_frame, face_points
from .params import Adjustments, get_preset
from ..shape.field import FaceField, apply_field
from .warp import face_field


@dataclass
class FaceReport:
    """What was done to one face (the CLI's --json)."""

    index: int
    box: list[float]                 # box of the points, x0, y0, x1, y1
    scale: float                     # face scale in pixels (outer-eye distance)
    reliability: float               # fade from confidence / pose, in [0, 1]
    weight: float                    # reliability x caller's weight (e.g. the video ramp)
    applied: dict = field(default_factory=dict)   # values after the fade
    warp_roi: list[int] | None = None
    warp_factor: float = 1.0         # < 1 when the fold-over guard shrank the field
    max_shift_px: float = 0.0
    edited: bool = False             # whether any pixel of this face was changed (warp or makeup)

    def to_dict(self) -> dict:
        return {"index": self.index, "box": [round(v, 1) for v in self.box], "scale": round(self.scale, 1),
                "reliability": round(self.reliability, 3), "weight": round(self.weight, 3),
                "applied": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.applied.items()},
                "warp_roi": self.warp_roi, "warp_factor": round(self.warp_factor, 3),
                "max_shift_px": round(self.max_shift_px, 2), "edited": self.edited}


def select_faces(faces: Sequence, which: str | Sequence[int] | None) -> list[int]:
    """Indices of the faces to edit: 'all', 'largest', or explicit indices ('0,2' or [0, 2])."""
    n = len(faces)
    if which is None or which == "all":
        return list(range(n))
    if which == "largest":
        if not n:
            return []
        return [int(np.argmax([face_frame(f).scale for f in faces]))]
    if isinstance(which, str):
        try:
            idx = [int(t) for t in which.split(",") if t.strip()]
        except ValueError:
            raise UserError(f"faces must be 'all', 'largest' or indices like '0,2', got {which!r}") from None
    else:
        idx = [int(i) for i in which]
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise UserError(f"face index {bad[0]} out of range: {n} face(s) found")
    return sorted(set(idx))


def _disjoint(r: tuple[int, int, int, int], s: tuple[int, int, int, int], margin: int = 2) -> bool:
    """Whether two boxes (x0, y0, x1, y1) are apart by at least `margin` pixels."""
    return r[2] + margin <= s[0] or s[2] + margin <= r[0] or r[3] + margin <= s[1] or s[3] + margin <= r[1]


def _fade(adj: Adjustments, w: float) -> Adjustments:
    """The adjustments a face with weight w gets (shape and makeup both scale)."""
    if w >= 1.0:
        return adj
    return adj.scaled(max(0.0, w))


def retouch_report(image: np.ndarray, faces: Sequence, adjustments: Adjustments,
                   select: str | Sequence[int] | None = "all",
                   weights: Sequence[float] | None = None,
                   reliabilities: Sequence[float] | None = None) -> tuple[np.ndarray, list[FaceReport]]:
    """Retouched copy of `image` (BGR uint8) and a report per edited face.

    `faces`: `Face` objects or (106, 2) arrays (LaPa/JD order). `weights`: an extra per-face
    factor in [0, 1] (the video ramp), multiplied with each face's reliability (computed from the
    face, or given in `reliabilities`, e.g. smoothed over time by the video path).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"retouch needs a BGR uint8 image (H, W, 3); got {image.dtype} {image.shape}")
    out = image.copy()
    if adjustments.is_identity and not len(faces):
        return out, []      # nothing to do, and no faces were looked for: no index to check
    chosen = select_faces(faces, select)
    if adjustments.is_identity or not chosen:
        return out, []
    plans: list[tuple[int, object, np.ndarray, FaceFrame, Adjustments, FaceReport]] = []
    for i in chosen:
        face = faces[i]
        pts, _ = face_points(face)
        frame = face_frame(face, None if reliabilities is None else float(np.clip(reliabilities[i], 0.0, 1.0)))
        extra = 1.0 if weights is None else float(np.clip(weights[i], 0.0, 1.0))
        w = frame.weight * extra
        adj = _fade(adjustments, w)
        box = [float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())]
        rep = FaceReport(i, box, frame.scale, frame.weight, w, adj.to_dict() if w > 0 else {})
        plans.append((i, face, pts, replace(frame, weight=1.0), adj, rep))
    # makeup on the input geometry
    for _, face, pts, frame, adj, rep in plans:
        if rep.weight <= 0:
            continue
        vis = getattr(face, "visibility", None)
        makeup.skin_effects(out, pts, frame, adj.smooth_skin, adj.blush, adj.blush_color, adj.skin_tone, vis)
        beauty.eye_and_teeth_effects(out, pts, frame, adj, vis)
        if adj.lipstick is not None and adj.lipstick_amount > 0:
            makeup.lipstick(out, pts, frame, adj.lipstick, adj.lipstick_amount, vis)
        rep.edited = adj.has_makeup
    # one fused field and one remap per face, each from the previous result; while nothing has
    # changed a face's region yet, it is read straight from the input (no copy of the region)
    touched: list[tuple[int, int, int, int]] = []
    if any(rep.weight > 0 and adj.has_makeup for *_, adj, rep in plans):
        touched.append((0, 0, out.shape[1], out.shape[0]))
    for _, face, pts, frame, adj, rep in plans:
        if rep.weight <= 0 or not adj.has_shape:
            continue
        fld: FaceField | None = face_field(pts, adj, out.shape, frame=frame,
                                           visibility=getattr(face, "visibility", None))
        if fld is None:
            continue
        clean = all(_disjoint(fld.roi, t) for t in touched)
        apply_field(image if clean else out, fld, out=out)
        touched.append(fld.roi)
        rep.warp_roi = [int(v) for v in fld.roi]
        rep.warp_factor = fld.factor
        rep.max_shift_px = fld.max_displacement()
        rep.edited = True
    return out, [p[-1] for p in plans]


def retouch(image: np.ndarray, faces: Sequence, adjustments: Adjustments | None = None,
            select: str | Sequence[int] | None = "all", **values) -> np.ndarray:
    """Retouched copy of `image`; `values` set or override adjustments (e.g. face_slim=0.3)."""
    adj = (adjustments or Adjustments()).updated(**values) if values else (adjustments or Adjustments())
    return retouch_report(image, faces, adj, select)[0]


@dataclass
class RetouchResult:
    """What `Retoucher.run` did: the retouched image, the faces it used and one report per face."""

    image: np.ndarray
    faces: list
    report: list[FaceReport]


class Retoucher:
    """Landmarker + adjustments: `Retoucher(landmarker).apply(image, face_slim=0.3, eye_size=0.2)`.

    `preset` names a bundle (`PRESETS`), `strength` scales it, keyword values override single
    adjustments. Without a landmarker, pass `faces=` to `apply`. `run` returns the faces and
    per-face reports with the image.
    """

    def __init__(self, landmarker=None, preset: str | Adjustments | None = None, strength: float = 1.0,
                 **values) -> None:
        self.landmarker = landmarker
        self.adjustments = self.resolve(preset, strength, **values)

    @staticmethod
    def resolve(preset: str | Adjustments | None = None, strength: float = 1.0, **values) -> Adjustments:
        """Preset (name or Adjustments) x strength, then explicit values on top."""
        base = get_preset(preset) if isinstance(preset, str) else (preset or Adjustments())
        adj = base.scaled(strength) if strength != 1.0 else base
        return adj.updated(**values) if values else adj

    def faces_of(self, image: np.ndarray, boxes=None) -> list:
        if self.landmarker is None:
            raise UserError("Retoucher has no landmarker: pass faces=... or Retoucher(Landmarker.default())")
        return self.landmarker.predict(image, boxes=boxes)

    def apply(self, image, faces: Sequence | None = None, *, boxes=None, select: str | Sequence[int] | None = "all",
              preset: str | Adjustments | None = None, strength: float | None = None, color: str = "bgr",
              **values) -> np.ndarray:
        """Retouched copy of `image` (path or BGR array). Per-call preset/strength/values override the defaults."""
        return self.run(image, faces, boxes=boxes, select=select, preset=preset, strength=strength, color=color,
                        **values).image

    __call__ = apply

    def run(self, image, faces: Sequence | None = None, *, boxes=None, select: str | Sequence[int] | None = "all",
            preset: str | Adjustments | None = None, strength: float | None = None, color: str = "bgr",
            **values) -> RetouchResult:
        """`apply`, returning the faces found and a report per face (what moved, how far) with the image."""
        from ..infer.landmarker import as_bgr

        bgr = as_bgr(image, color)
        if preset is not None or strength is not None:
            adj = self.resolve(preset if preset is not None else self.adjustments,
                               1.0 if strength is None else strength, **values)
        else:
            adj = self.adjustments.updated(**values) if values else self.adjustments
        if faces is None:
            faces = [] if adj.is_identity else self.faces_of(bgr, boxes)
        out, report = retouch_report(bgr, faces, adj, select)
        return RetouchResult(out if color == "bgr" else out[:, :, ::-1].copy(), list(faces), report)
