"""Retouching on video: tracked, smoothed faces, effects that ramp in and out.

Faces come from `video.Tracker` (re-cropped from their previous points, One-Euro
smoothed in face-size units), so a still face gets a still warp. A face's edit
ramps in over `ramp_s` seconds from its first frame (no pop when it appears) and,
when its track is lost, ramps out over the same time on its last points.
`field_shimmer` measures what a viewer sees as shimmer: how much the displacement
field changes between consecutive frames, as a fraction of the face width.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..infer.video import Tracker
from ..shape.frame import face_frame
from .params import Adjustments
from .retoucher import FaceReport, retouch_report, select_faces
from ..shape.field import FaceField


def _smoothstep(t: float) -> float:
    t = min(1.0, max(0.0, t))
    return t * t * (3 - 2 * t)


@dataclass
class _Ghost:
    """A lost face kept for its ramp-out: last points and confidence, no pose."""

    points: np.ndarray
    conf: np.ndarray
    track_id: int
    lost_at: float
    weight_at_loss: float


@dataclass
class RetouchedFrame:
    """One frame of `VideoRetoucher.process`: the image, the faces edited (ending tracks fading out
    included), the ramp weight of each and its report."""

    image: np.ndarray
    faces: list
    weights: list[float]
    report: list[FaceReport]


@dataclass
class VideoRetoucher:
    """`update(frame, t) -> retouched frame` for a camera or a video file (`process` also returns
    the faces, weights and reports).

    `select`: 'all', 'largest' (the largest face of each frame) or track ids ('0,2' / [0, 2]).
    """

    landmarker: object
    adjustments: Adjustments
    smooth: bool = True
    ramp_s: float = 0.3
    select: str | Sequence[int] | None = "all"
    tracker_kw: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # New faces are looked for by a full detection every 30 frames rather than the tracker's
        # continuous scan: on 1280x720 the scan costs several times the rest of the frame
        # (benchmarks/retouch_video.py), and a newcomer ramps in over `ramp_s` anyway.
        kw = {"scan_frames": 0, "detect_every": 30, **self.tracker_kw}
        self.tracker = Tracker(self.landmarker, smooth=self.smooth, **kw)
        self.first_seen: dict[int, float] = {}
        self.prev_weight: dict[int, float] = {}   # the previous frame's applied weight and face per track
        self.prev_face: dict[int, object] = {}
        self.ghosts: dict[int, _Ghost] = {}
        self.trust: dict[int, float] = {}      # reliability per track, rate-limited
        self.prev_t: float | None = None

    def ramp(self, track_id: int, t: float) -> float:
        """Weight of a live track at time t: 0 on its first frame, 1 after `ramp_s` seconds."""
        t0 = self.first_seen.setdefault(track_id, t)
        return 1.0 if self.ramp_s <= 0 else _smoothstep((t - t0) / self.ramp_s)

    def update(self, frame: np.ndarray, t: float, boxes=None) -> np.ndarray:
        """The retouched frame. `boxes` (x0, y0, x1, y1[, score]) start tracks (e.g. on the first frame)."""
        return self.process(frame, t, boxes).image

    def process(self, frame: np.ndarray, t: float, boxes=None) -> RetouchedFrame:
        """`update`, returning the faces edited, their weights and reports with the image."""
        faces = self.tracker.update(frame, t) if boxes is None else self.tracker.update(frame, t, boxes=boxes)
        live = {f.track_id for f in faces}
        if self.select in (None, "all"):
            chosen = faces
        elif self.select == "largest":
            chosen = [faces[i] for i in select_faces(faces, "largest")]
        else:
            ids = set(self.select) if not isinstance(self.select, str) else {int(v) for v in self.select.split(",") if v.strip()}
            chosen = [f for f in faces if f.track_id in ids]
        weights = [self.ramp(f.track_id, t) for f in chosen]
        # reliability (confidence, pose) changes by at most 1/ramp_s per second: a face whose
        # confidence hovers at a limit fades instead of flickering
        dt = 0.0 if self.prev_t is None else max(0.0, t - self.prev_t)
        step = 1.0 if self.ramp_s <= 0 else dt / self.ramp_s
        trust = []
        for f in chosen:
            target = face_frame(f).weight
            prev = self.trust.get(f.track_id)
            now = target if prev is None else float(np.clip(target, prev - step, prev + step))
            self.trust[f.track_id] = now
            trust.append(now)
        self.prev_t = t
        # tracks that ended: ramp out on their last points
        for tid in list(self.prev_face):
            if tid not in live and tid not in self.ghosts:
                f = self.prev_face[tid]
                self.ghosts[tid] = _Ghost(np.asarray(f.points), np.asarray(f.conf), tid, t, self.prev_weight.get(tid, 0.0))
                self.first_seen.pop(tid, None)
        for tid, g in list(self.ghosts.items()):
            w = 0.0 if self.ramp_s <= 0 else g.weight_at_loss * (1.0 - _smoothstep((t - g.lost_at) / self.ramp_s))
            if tid in live or w <= 0:
                del self.ghosts[tid]
                continue
            chosen.append(g)
            weights.append(w)
            trust.append(1.0)       # already in weight_at_loss
        self.prev_face = {f.track_id: f for f in faces}
        self.prev_weight = {f.track_id: w * r for f, w, r in zip(chosen, weights, trust) if f.track_id in live}
        for tid in list(self.trust):
            if tid not in live:
                del self.trust[tid]
        out, report = retouch_report(frame, chosen, self.adjustments, "all", weights, trust)
        return RetouchedFrame(out, chosen, weights, report)


def field_shimmer(a: FaceField | None, b: FaceField | None, face_width: float) -> float:
    """Mean change of the displacement between two frames' fields, as a fraction of face width.

    Sampled on the first field's coarse grid (where that face's field lives).
    """
    if a is None or b is None:
        return 0.0 if a is b else float("nan")
    rows, cols = a.d.shape[:2]
    xs, ys = a._sample_xy()
    X, Y = np.meshgrid(xs + 0.5, ys + 0.5)
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    da = a.d.reshape(-1, 2).astype(np.float64)
    db = b.at(pts)
    moving = np.hypot(da[:, 0], da[:, 1]) > 0.05 * np.hypot(da[:, 0], da[:, 1]).max()
    return float(np.hypot(*(db - da)[moving].T).mean() / face_width)
