"""Steady landmarks on video: track by re-cropping, smooth with One-Euro.

The detector runs on the first frame and whenever a face is lost; in between,
each face is cropped from its previous landmarks with the training crop rule
(tracking), which is both cheaper and better aligned than a detector box. Each
coordinate then goes through a One-Euro filter (Casiez et al. 2012): a
low-pass whose cut-off rises with speed, so a still face stops trembling while
a moving one does not lag. Filters work in units of the face size, so one set
of parameters fits near and far faces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .crop import points_box
from .detect import box_iou
from .predict import Face, Landmarker


class OneEuroFilter:
    """One-Euro filter over an array of values (any shape), one call per frame."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 20.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or self.t is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x.copy()


@dataclass
class Track:
    id: int
    raw: np.ndarray       # this frame's unsmoothed points (the next frame is cropped from these)
    conf: np.ndarray
    box: np.ndarray
    score: float
    points: np.ndarray | None = None  # reported (smoothed) points
    filter: OneEuroFilter | None = field(default=None, repr=False)
    scale: float = 1.0


class Tracker:
    """Frame-by-frame landmarks for a camera or video.

    `update(frame, t)` returns the faces of this frame with `track_id` set.
    A track is dropped when its mean confidence falls below `min_conf`; the
    detector runs when there are no tracks, every `detect_every` frames (to
    pick up new faces; 0 = only when empty) and on the first frame.
    """

    def __init__(self, landmarker: Landmarker, smooth: bool = True, min_cutoff: float = 1.0, beta: float = 20.0,
                 d_cutoff: float = 1.0, min_conf: float = 0.25, detect_every: int = 30) -> None:
        self.lm = landmarker
        self.smooth = smooth
        self.filter_args = (min_cutoff, beta, d_cutoff)
        self.min_conf, self.detect_every = min_conf, detect_every
        self.tracks: list[Track] = []
        self.frame_index = 0
        self.detector_calls = 0
        self._next_id = 0

    def update(self, frame, t: float | None = None, color: str = "bgr") -> list[Face]:
        from .predict import as_bgr

        image = as_bgr(frame, color)
        t = float(self.frame_index) / 30.0 if t is None else float(t)
        # 1) follow existing faces from their previous landmarks
        if self.tracks:
            pts, conf = self.lm.landmarks_from_points(image, [tr.raw for tr in self.tracks])
            alive = []
            for tr, p, c in zip(self.tracks, pts, conf):
                if float(np.mean(c)) >= self.min_conf:
                    tr.raw, tr.conf = p, c
                    alive.append(tr)
            self.tracks = alive
        # 2) detect when nothing is tracked, or periodically for newcomers
        if not self.tracks or (self.detect_every and self.frame_index % self.detect_every == 0):
            self.detector_calls += 1
            boxes, scores = self.lm.detect(image)
            tracked = np.array([points_box(tr.raw) for tr in self.tracks]).reshape(-1, 4)
            new = [(b, s) for b, s in zip(boxes, scores)
                   if not len(tracked) or box_iou(b, tracked).max() < 0.3]
            if self.lm.max_faces:
                new = new[: max(0, self.lm.max_faces - len(self.tracks))]
            if new:
                pts, conf = self.lm.landmarks_for_boxes(image, np.array([b for b, _ in new]),
                                                        calibration=getattr(self.lm.detector, "landmark_box", None))
                for (b, s), p, c in zip(new, pts, conf):
                    tr = Track(self._next_id, p, c, b, float(s))
                    self._next_id += 1
                    self.tracks.append(tr)
        # 3) smooth in face-size units and report
        faces = []
        for tr in self.tracks:
            pts = tr.raw
            if self.smooth:
                if tr.filter is None:
                    # units of the face size at the track's start: a per-frame scale would turn
                    # tiny size fluctuations into large moves of far-from-origin coordinates
                    tr.filter = OneEuroFilter(*self.filter_args)
                    tr.scale = max(float(self.lm.layout.norm_distance(tr.raw, "bbox")), 1.0)
                pts = tr.filter(tr.raw / tr.scale, t) * tr.scale
            tr.points = pts
            faces.append(Face(tr.box, tr.score, pts, tr.conf, self.lm.layout, track_id=tr.id))
        self.frame_index += 1
        return faces


def predict_video(landmarker: Landmarker, path, out, draw: bool = False, smooth: bool = False,
                  tracker_kw: dict | None = None) -> dict:
    """Landmarks for every frame of a video file -> `out/<stem>.jsonl` (+ annotated `<stem>_annotated.mp4`)."""
    import json
    import os
    import tempfile
    import time
    from pathlib import Path

    import cv2
    from tqdm import tqdm

    from .errors import UserError
    from .fileio import atomic_write_text
    from .draw import draw_faces

    path, out = Path(path), Path(out)
    if not path.is_file() or path.stat().st_size == 0:
        raise UserError(f"{path}: video file is missing or empty")
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        cap.release()
        raise UserError(f"{path}: cannot decode video (unsupported or corrupt file)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    tracker = Tracker(landmarker, smooth=smooth, **(tracker_kw or {}))
    out.mkdir(parents=True, exist_ok=True)
    writer, tmp_video = None, None
    if draw:
        fd, tmp_video = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=out)
        os.close(fd)
        h, w = frame.shape[:2]
        writer = cv2.VideoWriter(tmp_video, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    lines, index, t0 = [], 0, time.perf_counter()
    bar = tqdm(total=total, desc="video", unit="frame")
    try:
        while ok:
            faces = tracker.update(frame, t=index / fps)
            lines.append(json.dumps({"frame": index, "time": round(index / fps, 4),
                                     "faces": [f.to_dict() for f in faces]}))
            if writer is not None:
                writer.write(draw_faces(frame, faces))
            index += 1
            bar.update(1)
            ok, frame = cap.read()
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
    secs = time.perf_counter() - t0
    atomic_write_text(out / f"{path.stem}.jsonl", "\n".join(lines) + "\n")
    if tmp_video:
        os.replace(tmp_video, out / f"{path.stem}_annotated.mp4")
    summary = {"frames": index, "seconds": secs, "fps": index / max(secs, 1e-9),
               "detector_calls": tracker.detector_calls}
    print(f"video: {index} frames, {summary['fps']:.1f} frames/s, detector ran {tracker.detector_calls}x -> "
          f"{out / (path.stem + '.jsonl')}")
    return summary
