"""Landmarks that follow faces on video: track by re-cropping, catch drift, smooth with One-Euro.

Each face is cropped from its previous landmarks with the training crop rule (tracking), which is
cheaper and better aligned than a detector box. After every pass the track is checked for drift:
its mean point confidence drops, its inter-ocular distance jumps, or its points pile up at the
edge of the crop (the face moved further than the crop allows). A drifting track is re-detected
at once in a window around it and re-started from the detection; when nothing is found there it
ends, and is no longer reported or drawn. New faces are looked for continuously: detectors that
can (the default BlazeFace pyramid) spread their network runs over `scan_frames` frames, so the
whole picture is searched every few frames at a fraction of a detection per frame; others run
in full every `detect_every` frames. Each track's box is its landmark box and its score its mean
point confidence, updated every frame.

Each coordinate then goes through a One-Euro filter (Casiez et al. 2012): a low-pass whose
cut-off rises with speed, so a still face stops trembling while a moving one does not lag.
Filters work in units of the face size, so one set of parameters fits near and far faces; a
re-detected track restarts its filter (a jump is not smoothed into a slide).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..crop import CropTransform, points_box
from ..detect import box_iou
from .landmarker import Face, Landmarker


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
        # the textbook form, in fewer array operations (a tracker calls this per face per frame):
        # alpha(c) = 1 / (1 + tau / dt), tau = 1 / (2 pi c)  ==  k c / (k c + 1), k = 2 pi dt
        dt = t - self.t
        k = 2 * math.pi * dt
        change = x - self.x
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = self.dx + a_d * (change * (1.0 / dt) - self.dx)
        kc = np.abs(self.dx)
        kc *= k * self.beta
        kc += k * self.min_cutoff
        self.x = self.x + kc / (kc + 1.0) * change
        self.t = t
        return self.x.copy()


@dataclass
class Track:
    """One followed face (its fields are this frame's values)."""

    id: int
    raw: np.ndarray       # this frame's unsmoothed points (the next frame is cropped from these)
    conf: np.ndarray
    box: np.ndarray       # landmark box of `raw`
    score: float          # mean point confidence of `conf`
    iod: float = 0.0      # the layout's normalization distance of `raw` (outer-eye corners for lapa106)
    points: np.ndarray | None = None  # reported (smoothed) points
    filter: OneEuroFilter | None = field(default=None, repr=False)
    scale: float = 1.0
    age: int = 0          # frames since the track started or was re-detected
    redetections: int = 0
    vis: np.ndarray | None = None   # this frame's visibility (None for models without that output)


@dataclass(frozen=True)
class DriftRule:
    """When a track's new points are not trusted and the face is re-detected at once.

    conf: mean point confidence below this; iod_change: the inter-ocular distance changes by more
    than this fraction in one frame (a face does not zoom 25% in 1/30 s; a drifting crop does);
    edge: more than `edge_share` of the points lie within `edge` of the crop border (normalized
    crop units) - the model was shown a crop the face has left.
    """

    conf: float = 0.4
    iod_change: float = 0.25
    edge: float = 0.04
    edge_share: float = 0.1


SMOOTHING = (0.1, 20.0, 1.0)
"""The Tracker's One-Euro parameters (min_cutoff, beta, d_cutoff), on points in units of the face
size: tuned for jitter on `synth.video.default_script` (benchmarks/video_jitter.py), and checked
not to hide a blink (a 3-frame blink at 30 fps keeps most of its depth in the smoothed eye openness,
tests/infer/test_video.py)."""


class Tracker:
    """Frame-by-frame landmarks for a camera or video.

    `update(frame, t)` returns the faces of this frame with `track_id` set. Tracks follow their
    faces from their own landmarks, are re-detected at once when `drift` signals trouble, end
    when their mean confidence falls below `min_conf` or re-detection finds nothing, and new
    faces are looked for every frame over `scan_frames` frames (detectors with `jobs`, like the
    default BlazeFace) or in full every `detect_every` frames (any other detector, or
    `scan_frames=0`). Without a detector, pass `boxes=` to `update` to start tracks (a drifting
    track then simply ends). `drift=None` turns the drift checks off (the former behaviour).

    Defaults (min_cutoff, beta) were tuned on `synthvideo.default_script` with
    benchmarks/video_jitter.py (table in docs/video.md).
    """

    def __init__(self, landmarker: Landmarker, smooth: bool = True, *, min_cutoff: float = SMOOTHING[0],
                 beta: float = SMOOTHING[1], d_cutoff: float = SMOOTHING[2], min_conf: float = 0.25,
                 detect_every: int = 30, scan_frames: int = 10,
                 drift: DriftRule | None = DriftRule()) -> None:
        self.lm = landmarker
        self.smooth = smooth
        self.filter_args = (min_cutoff, beta, d_cutoff)
        self.min_conf, self.detect_every, self.scan_frames = min_conf, detect_every, max(0, int(scan_frames))
        self.drift = drift
        self.tracks: list[Track] = []
        self.frame_index = 0
        self.detector_calls = 0   # full detections
        self.detector_runs = 0    # partial scans (jobs) and local re-detections
        self.redetections = 0
        self._next_id = 0
        self._scan_pos = 0
        a, b = landmarker.layout.norm_pairs.get(landmarker.layout.default_norm, ((), ()))
        self._iod_pair = [a[0], b[0]] if len(a) == 1 and len(b) == 1 else None  # one point each side

    # ---- steps ----
    def _follow(self, image: np.ndarray) -> list[Track]:
        """Crop every track from its last points, predict once, and return the drifting tracks.

        Each track's crop, box, mean confidence and eye distance are worked out once per frame (they
        are this loop's only cost besides the network: one face of a video call)."""
        from ..crop import square_crop

        if not self.tracks:
            return []
        # the training crop from each track's points (`crop.crop_from_points`); `tr.box` is already
        # their box: every track enters a frame with box = points_box(raw) (`_restart` and below)
        crops = [square_crop(tr.box, self.lm.size, self.lm.enlarge) for tr in self.tracks]
        pts, conf, vis = self.lm.landmarks_in_crops(image, crops, visibility=True)
        drifting = []
        for i, (tr, t, p, c) in enumerate(zip(self.tracks, crops, pts, conf)):
            old_iod = tr.iod
            tr.raw, tr.conf, tr.score, tr.iod = p, c, float(c.sum(dtype=np.float64)) / c.size, self._iod(p)
            tr.vis = None if vis is None else vis[i]
            box = p.min(axis=0).tolist() + p.max(axis=0).tolist()   # NaN and inf carry into these
            if self._drifts(old_iod, tr, t, box):
                drifting.append(tr)  # its box stays the last good place, where `_redetect` looks
            else:
                tr.box = np.array(box)   # points_box(p), all finite
            tr.age += 1
        return drifting

    def _iod(self, points: np.ndarray) -> float:
        """The layout's normalization distance of one face's points (`Layout.norm_distance`)."""
        if self._iod_pair is None:
            return float(self.lm.layout.norm_distance(points))
        (ax, ay), (bx, by) = points[self._iod_pair].tolist()
        return math.hypot(ax - bx, ay - by)

    def _drifts(self, old_iod: float, tr: Track, crop: CropTransform, box: list[float]) -> bool:
        """Whether `tr`'s new points (eye distance `old_iod` before them; cropped by `crop`; their
        box `box`, which is not finite when a point is not) are not to be trusted."""
        r = self.drift
        if r is None:  # drift checks off: a track only ends when its confidence falls below min_conf
            return False
        if tr.score < r.conf or not math.isfinite(sum(box)):
            return True
        if old_iod > 0 and abs(tr.iod / old_iod - 1.0) > r.iod_change:
            return True
        # points within `edge` of the crop border (crop units), worked out in source pixels: further
        # than (1/2 - edge) x side from the crop's centre; none when their box is inside that square
        half = (0.5 - r.edge) * crop.size / crop.scale
        cx, cy = (0.5 * crop.size - crop.offset_x) / crop.scale, (0.5 * crop.size - crop.offset_y) / crop.scale
        if cx - half <= box[0] and cy - half <= box[1] and box[2] <= cx + half and box[3] <= cy + half:
            return False
        near_edge = (np.abs(tr.raw - (cx, cy)) > half).any(axis=1)
        return np.count_nonzero(near_edge) > r.edge_share * len(near_edge)

    def _restart(self, tr: Track, points: np.ndarray, conf: np.ndarray, vis: np.ndarray | None) -> None:
        """Set a track's points (a new or re-detected face), with their box, score, eye distance and visibility."""
        tr.raw, tr.conf, tr.box, tr.score, tr.vis = points, conf, points_box(points), float(conf.mean()), vis
        tr.iod = self._iod(points)

    def _start(self, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray, calibration) -> list[tuple]:
        pts, conf, vis = self.lm.landmarks_for_boxes(image, boxes, calibration=calibration, visibility=True)
        return list(zip(pts, conf, scores, [None] * len(pts) if vis is None else vis))

    def _redetect(self, image: np.ndarray, tr: Track) -> bool:
        """Look for the track's face in a window around its last good place; restart it there."""
        det = self.lm.detector
        if det is None:
            return False
        h, w = image.shape[:2]
        x0, y0, x1, y1 = tr.box
        side = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        wx0, wy0 = int(max(0, cx - 2.5 * side)), int(max(0, cy - 2.5 * side))
        wx1, wy1 = int(min(w, cx + 2.5 * side)), int(min(h, cy + 2.5 * side))
        if wx1 - wx0 < 8 or wy1 - wy0 < 8:
            return False
        from ..detect import run_detector

        self.detector_runs += 1
        dets = run_detector(det, np.ascontiguousarray(image[wy0:wy1, wx0:wx1]))
        if not dets:
            return False
        shift = np.array([wx0, wy0, wx0, wy0], dtype=np.float64)
        boxes = np.array([d.box for d in dets]) + shift
        # the detection nearest to where the face was, no smaller than a third of it
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        dist = np.hypot((boxes[:, 0] + boxes[:, 2]) / 2 - cx, (boxes[:, 1] + boxes[:, 3]) / 2 - cy)
        ok = sides > side / 3
        if not ok.any():
            return False
        k = int(np.argmin(np.where(ok, dist, np.inf)))
        (p, c, _, v), = self._start(image, boxes[k:k + 1], np.array([dets[k].score]),
                                 getattr(det, "landmark_box", None))
        if float(np.mean(c)) < self.min_conf or not self.lm.confirmed([dets[k].score], c[None])[0]:
            return False
        self._restart(tr, p, c, v)
        tr.filter, tr.age = None, 0
        tr.redetections += 1
        self.redetections += 1
        return True

    def _detections(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """This frame's share of the search for new faces (None when nothing ran)."""
        det = self.lm.detector
        if det is None:
            return None
        first = self.frame_index == 0 or not self.tracks
        if self.scan_frames and hasattr(det, "jobs") and hasattr(det, "detect_jobs") and not first:
            jobs = det.jobs(image.shape[1], image.shape[0])
            k = self._scan_pos % self.scan_frames  # this frame's slot: one full pass every scan_frames frames
            self._scan_pos += 1
            part = [j for i, j in enumerate(jobs) if i * self.scan_frames // len(jobs) == k]
            if not part:
                return None
            self.detector_runs += len(part)
            dets = det.detect_jobs(image, part)
            boxes = np.array([d.box for d in dets], dtype=np.float64).reshape(-1, 4)
            return self.lm._filter(boxes, np.array([d.score for d in dets], dtype=np.float64))
        if first or (self.detect_every and self.frame_index % self.detect_every == 0):
            self.detector_calls += 1
            return self.lm.detect(image)
        return None

    def _add(self, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray, calibration) -> None:
        """Start tracks for boxes that are not a face already followed."""
        if not len(boxes):
            return
        tracked = np.array([tr.box for tr in self.tracks]).reshape(-1, 4)  # this frame's places
        new = []
        for b, s in zip(boxes, scores):
            c = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
            inside = [(t[0] <= c[0] <= t[2] and t[1] <= c[1] <= t[3]) for t in tracked]
            if not any(inside) and (not len(tracked) or box_iou(b, tracked).max() < 0.3):
                new.append((b, s))
        if self.lm.max_faces:
            new = new[: max(0, self.lm.max_faces - len(self.tracks))]
        if not new:
            return
        for p, c, s, v in self._start(image, np.array([b for b, _ in new]), np.array([s for _, s in new]),
                                   calibration):
            detected = calibration is not None  # given boxes are taken as faces; detections may be proposals
            if float(np.mean(c)) < self.min_conf or (detected and not self.lm.confirmed([s], c[None])[0]):
                continue
            track = Track(self._next_id, p, c, points_box(p), float(np.mean(c)))
            self._restart(track, p, c, v)
            self.tracks.append(track)
            self._next_id += 1

    def _dedupe(self) -> None:
        """Two tracks on one face (after a re-detection): keep the older."""
        if len(self.tracks) < 2:
            return
        keep: list[Track] = []
        for tr in sorted(self.tracks, key=lambda t: t.id):
            if not keep or box_iou(tr.box, np.array([k.box for k in keep])).max() < 0.5:
                keep.append(tr)
        self.tracks = keep

    def update(self, frame, t: float | None = None, color: str = "bgr", boxes=None) -> list[Face]:
        """Faces of this frame. `boxes` (x0, y0, x1, y1[, score]) start tracks for faces not followed yet."""
        from .landmarker import as_bgr

        image = as_bgr(frame, color)
        t = float(self.frame_index) / 30.0 if t is None else float(t)
        # 1) follow; re-detect drifting tracks at once; end the ones that cannot be found again
        for tr in self._follow(image):
            if not self._redetect(image, tr):
                tr.score = 0.0  # ends below: a drifting track is not reported
        self.tracks = [tr for tr in self.tracks if tr.score >= self.min_conf]
        self._dedupe()
        # 2) new faces: given boxes, the scan's share of this frame, or a periodic detection
        if boxes is not None:
            arr = np.asarray(boxes, dtype=np.float64)
            arr = arr.reshape(0, 4) if arr.size == 0 else arr.reshape(-1, arr.shape[-1])
            scores = arr[:, 4] if arr.shape[1] > 4 else np.ones(len(arr))
            self._add(image, arr[:, :4], scores, None)
        found = self._detections(image)
        if found is not None:
            self._add(image, found[0], found[1], getattr(self.lm.detector, "landmark_box", None))
        # 3) box and score from the landmarks; smooth in face-size units and report
        faces = []
        for tr in self.tracks:
            pts = tr.raw
            if self.smooth:
                if tr.filter is None:
                    # in units of the face size at the track's (re)start (a per-frame scale would turn
                    # tiny size fluctuations into large moves of far-from-origin coordinates): the
                    # filter runs on pixels with beta / scale, which is the same filter (the cut-off
                    # reads beta x speed in face sizes; everything else is linear)
                    tr.scale = max(float(self.lm.layout.norm_distance(tr.raw, "bbox")), 1.0)
                    min_cutoff, beta, d_cutoff = self.filter_args
                    tr.filter = OneEuroFilter(min_cutoff, beta / tr.scale, d_cutoff)
                pts = tr.filter(tr.raw, t)
            tr.points = pts
            faces.append(Face(tr.box.copy(), tr.score, pts, tr.conf, self.lm.layout, track_id=tr.id,
                              visibility=tr.vis))
        self.frame_index += 1
        return faces


def open_video(path) -> tuple[object, np.ndarray, float, int | None]:
    """(capture, first frame, frames per second, frame count or None), or a one-line `UserError`."""
    import cv2

    from ..errors import UserError

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise UserError(f"{path}: video file is missing or empty")
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        cap.release()
        raise UserError(f"{path}: cannot decode video (unsupported or corrupt file)")
    return cap, frame, cap.get(cv2.CAP_PROP_FPS) or 30.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None


def process_video(path: str | Path, per_frame: Callable[[np.ndarray, int, float], tuple[dict, np.ndarray | None]],
                  video_out: str | Path | None = None, jsonl_out: str | Path | None = None,
                  desc: str = "video") -> tuple[int, float]:
    """The one frame loop of `predict` and `retouch` on a video file -> (frames, seconds).

    `per_frame(frame, index, t)` returns the frame's JSON record and the frame to write (or None).
    Records go to `jsonl_out` as they come (one line per frame, with "frame" and "time", renamed
    into place when the video ends); output frames to `video_out` (an atomic video file whose size
    is that of the first frame written). A failure leaves neither file half-written.
    """
    import time

    from tqdm import tqdm

    from ..fileio import AtomicVideoWriter, JsonlStream

    cap, frame, fps, total = open_video(path)
    stream = JsonlStream(jsonl_out) if jsonl_out is not None else None
    writer = None
    index, t0 = 0, time.perf_counter()
    bar = tqdm(total=total, desc=desc, unit="frame")
    try:
        ok = True
        while ok:
            record, shown = per_frame(frame, index, index / fps)
            if stream is not None:
                stream.write({"frame": index, "time": round(index / fps, 4), **record})
            if video_out is not None and shown is not None:
                if writer is None:
                    writer = AtomicVideoWriter(video_out, fps, (shown.shape[1], shown.shape[0]))
                writer.write(shown)
            index += 1
            bar.update(1)
            ok, frame = cap.read()
    except BaseException:
        if writer is not None:
            writer.abort()
        if stream is not None:
            stream.close()
        raise
    finally:
        bar.close()
        cap.release()
    if writer is not None:
        writer.close()
    if stream is not None:
        stream.finish()
    return index, time.perf_counter() - t0


def predict_video(landmarker: Landmarker, path, out, draw: bool = False, smooth: bool = False,
                  tracker_kw: dict | None = None, boxes=None) -> dict:
    """Landmarks for every frame of a video file -> `out/<stem>.jsonl` (+ annotated `<stem>_annotated.mp4`).

    `boxes`: face boxes (x0, y0, x1, y1[, score]) of the first frame, which start the tracks (for
    users who bring their own boxes; without a detector, faces that are lost are not found again).
    Returns a summary (frames, seconds, fps, detector calls and runs, re-detections).
    """
    from ..draw import draw_faces

    path, out = Path(path), Path(out)
    tracker = Tracker(landmarker, smooth=smooth, **(tracker_kw or {}))
    out.mkdir(parents=True, exist_ok=True)

    def per_frame(frame: np.ndarray, index: int, t: float) -> tuple[dict, np.ndarray | None]:
        faces = tracker.update(frame, t=t, boxes=boxes if index == 0 else None)
        return {"faces": [f.to_dict() for f in faces]}, (draw_faces(frame, faces) if draw else None)

    frames, secs = process_video(path, per_frame, out / f"{path.stem}_annotated.mp4" if draw else None,
                                 out / f"{path.stem}.jsonl")
    return {"frames": frames, "seconds": secs, "fps": frames / max(secs, 1e-9), "out": str(out / f"{path.stem}.jsonl"),
            "detector_calls": tracker.detector_calls, "detector_runs": tracker.detector_runs,
            "redetections": tracker.redetections}
