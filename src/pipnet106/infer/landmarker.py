"""Top-down inference: detect faces, crop with the training rule, predict, map back.

`Landmarker` has the three visible steps (`preprocess` -> `inference` ->
`postprocess`) and composes a face detector with a landmark backend (PyTorch
checkpoint or ONNX file). All faces of an image go through the network in one
batch. With `refine` (default: 1 extra pass) each face is re-cropped from its
previous landmarks, exactly as `prepare --crop face` cropped the training
images, so a detector box that is not a landmark box costs little accuracy.

This module is the Python API (no command-line code: `cli.predict` is the
`pipnet106 predict` command) and imports no torch: `Landmarker.from_onnx` runs
with onnxruntime only.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..crop import (AREA_FILTER_BELOW, CropTransform, calibrated_box, crop_change, crop_from_points, points_box,
                   square_crop)
from ..constants import STARTER_ONNX, STARTER_PT
from ..errors import UserError
from ..fileio import read_image, to_bgr
from ..layout import Layout
from ..measures import eye_openness, mouth_openness

REFINE_TOL = 0.0
"""Refinement skips a face when the training crop from its landmarks moved less than this from the crop
that produced them (`crop.crop_change`: centre shift or side change, fraction of the crop side);
0 = always refine. Measured in benchmarks/refine_eval.py (docs/benchmarks.md, "Where each photo's time goes")."""


PROPOSAL_FIRST_PASS_CONF = 0.28
"""A detector proposal (a low-score candidate, see `Landmarker.confirmed`) whose first landmark pass
has a mean confidence below this gets no refinement pass and is dropped. On the 24 shared photos
no proposal that the refined points confirm started below 0.313, and 0.28 spares 85 of the 213
proposals' refinement passes (a one-face 1920x2562 portrait has 21 proposals)."""


SAME_FACE_SHARE = 0.6
"""Two detected faces are one when this share of the smaller one's box lies inside the other's
(`detect.box_containment`), for their detector boxes or for their points' boxes: a low-score
candidate around a face (26.jpg), a face-like part inside a face (22.jpg: a nose and mouth), or a
proposal whose refined points slid onto its neighbour. On the 24 shared photos such pairs share
0.47-1.0 of their boxes and 0.72-1.0 of their points' boxes; neighbours in crowds at most 0.26."""


@dataclass
class Face:
    """One face: detector box and score, landmarks in source-image pixels, per-point confidence.

    `pose` (yaw, pitch, roll in degrees, `pose.head_pose`) and `reliable` (`pose.reliability`:
    mean point confidence, pose, size and agreement with the detector box within
    `pose.DEFAULT_RULE`) are computed from the points when read, so they always describe the points
    the face carries (the pose is solved again only when the points changed).
    """

    box: np.ndarray       # (4,) x0, y0, x1, y1 of the detector (or given) box
    score: float          # detector score (1.0 for given boxes)
    points: np.ndarray    # (N, 2) continuous pixel coordinates of the source image
    conf: np.ndarray      # (N,) score of the chosen heatmap cell, in [0, 1]
    layout: Layout = field(repr=False)
    track_id: int = -1    # set by video.Tracker
    visibility: np.ndarray | None = None
    """(N,) in [0, 1]: how likely each point is visible (not covered by a hand, hair, glasses, a mask...);
    None for models without a visibility output."""
    expected_box: np.ndarray | None = field(default=None, repr=False, compare=False)
    """(4,) where the landmark box should be by the detector's box (its `landmark_box` calibration,
    `calibrated_box`); None when the box is not a detector's (boxes given by the user, video tracks)."""
    _pose: tuple = field(default=(None, None), init=False, repr=False, compare=False)
    """(points bytes, Pose) of the last `pose` read: solvePnP runs again only when the points change."""

    def region(self, name: str, view: str = "image") -> np.ndarray:
        """Points of a region, e.g. face.region('left_eye') or a group such as 'mouth'.

        Left and right are as seen in the image (`view="image"`, the layouts' convention); with
        `view="person"` they are the subject's own: face.region('left_eye', view='person') is the
        eye on the image's right.
        """
        return self.points[self.layout.region_index(view_name(name, view))]

    @property
    def pose(self):
        """`pose.Pose` (yaw, pitch, roll in degrees), or None for layouts without a 3-D reference."""
        from .pose import head_pose

        key = np.ascontiguousarray(self.points).tobytes()
        if self._pose[0] != key:
            self._pose = (key, head_pose(self.points, self.layout))
        return self._pose[1]

    @property
    def size(self) -> float:
        """Face size in pixels: sqrt(w * h) of the landmark box."""
        return float(self.layout.norm_distance(self.points, "bbox"))

    @property
    def box_agreement(self) -> float | None:
        """IoU of the points' box with `expected_box`: how well the points agree with the box the
        detector found (1 = exactly where the calibration puts them); None without `expected_box`."""
        if self.expected_box is None or not np.isfinite(self.points).all(axis=1).any():
            return None
        from ..detect import box_iou

        return float(box_iou(np.asarray(self.expected_box, dtype=np.float64), points_box(self.points)[None])[0])

    @property
    def eye_openness(self) -> tuple[float, float] | None:
        """(left, right) eye openness, image-view left first: lid gap over eye width (`measures.eye_openness`;
        about 0.3 open, near 0 closed). None for layouts without named lids."""
        return eye_openness(self.points, self.layout)

    @property
    def mouth_openness(self) -> float | None:
        """Inner lip gap over mouth width (`measures.mouth_openness`; 0 closed, 0.4+ wide open)."""
        return mouth_openness(self.points, self.layout)

    def reliability(self) -> tuple[bool, list[str]]:
        """(reliable, reasons it is not), by `pose.DEFAULT_RULE`."""
        from .pose import reliability

        return reliability(self.conf, self.pose, self.size, agreement=self.box_agreement)

    @property
    def reliable(self) -> bool:
        """Whether an app may trust these points (confidence, pose and size within limits)."""
        return self.reliability()[0]

    def to_dict(self, decimals: int = 2) -> dict:
        pose = self.pose
        ok, why = self.reliability()
        d = {"box": np.round(self.box, decimals).tolist(), "score": round(float(self.score), 4),
             "layout": self.layout.name, "points": np.round(self.points, decimals).tolist(),
             "conf": np.round(self.conf, 3).tolist(),
             "pose": pose.to_dict() if pose is not None else None, "reliable": ok}
        eyes, mouth = self.eye_openness, self.mouth_openness
        if eyes is not None:
            d["eye_openness"] = [round(v, 3) for v in eyes]
        if mouth is not None:
            d["mouth_openness"] = round(mouth, 3)
        if self.visibility is not None:
            d["visibility"] = np.round(self.visibility, 3).tolist()
        if why:
            d["unreliable_because"] = why
        if self.track_id >= 0:
            d["track_id"] = self.track_id
        return d


VIEWS = ("image", "person")


def view_name(name: str, view: str = "image") -> str:
    """A region name in `view` -> the layout's own (image-view) name: 'person' swaps left and right."""
    if view not in VIEWS:
        raise UserError(f"view must be 'image' or 'person', got {view!r}")
    if view == "image":
        return name
    swap = {"left": "right", "right": "left"}
    return "_".join(swap.get(part, part) for part in name.split("_"))


def region_map(layout: Layout, view: str = "image") -> dict[str, list[int]]:
    """Region name (left/right in `view`) -> point indices, e.g. for the JSON of `predict --person-view`."""
    return {view_name(name, view): [int(i) for i in idx] for name, idx in layout.regions.items()}


def as_bgr(image, color: str = "bgr") -> np.ndarray:
    """Path, PIL image or numpy array (BGR by default; gray; 4-channel) -> BGR uint8.

    Arrays are taken as OpenCV's BGR unless `color="rgb"`. Paths are read with
    their EXIF orientation applied, so points land on the image as a viewer shows it.
    """
    if isinstance(image, (str, Path)):
        return read_image(image)
    if hasattr(image, "mode") and hasattr(image, "size") and not isinstance(image, np.ndarray):  # PIL
        from PIL import ImageOps

        image, color = np.asarray(ImageOps.exif_transpose(image).convert("RGB")), "rgb"
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise UserError(f"image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got shape {arr.shape}")
    if color not in ("bgr", "rgb"):
        raise UserError(f"color must be 'bgr' or 'rgb', got {color!r}")
    if color == "rgb" and arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[:, :, [2, 1, 0] + ([3] if arr.shape[2] == 4 else [])]
    return to_bgr(np.ascontiguousarray(arr))


def one_per_face(faces: list[Face]) -> list[Face]:
    """Drop the second of two detections of one face (`SAME_FACE_SHARE`), keeping the one whose
    points agree best with its own box (`Face.box_agreement`), then the more confident; the order of
    the faces kept is unchanged."""
    if len(faces) < 2:
        return faces
    from ..detect import box_containment

    rank = sorted(range(len(faces)), key=lambda i: (-(faces[i].box_agreement or 0.0), -float(np.mean(faces[i].conf))))
    boxes = np.array([f.box for f in faces], dtype=np.float64)
    marks = np.array([points_box(f.points) if np.isfinite(f.points).all(axis=1).any() else f.box for f in faces])
    kept: list[int] = []
    for i in rank:
        if kept and max(box_containment(boxes[i], boxes[kept]).max(),
                        box_containment(marks[i], marks[kept]).max()) >= SAME_FACE_SHARE:
            continue
        kept.append(i)
    return [faces[i] for i in sorted(kept)]


class Landmarker:
    """Detector + landmark backend. `predict(image) -> list[Face]`.

    A landmarker may own a small thread pool for the crops of a batch (made on first use);
    `close()` or a `with` block ends it (threads left running end with the process anyway).
    """

    def __init__(self, backend, detector: Callable | str | None = "default", refine: int = 1,
                 max_faces: int = 0, min_face_size: float | str | None = "auto",
                 refine_tol: float = REFINE_TOL, parts: Sequence | None = None) -> None:
        """`min_face_size`: smallest face looked for and kept, in pixels; "auto" (or None, or 0): the
        detector's own default, which for the default BlazeFace grows with the photo
        (`detect.blazeface.auto_min_face`: 24 px up to 1.44 megapixels, 70 px on a 12-megapixel
        photo), keeping whatever it finds. `parts`: backends of the local stage's part models (eye,
        mouth; `infer.parts`), run after the face passes; a model file that names its part models
        loads them itself (`from_onnx`)."""
        from ..detect import as_detector

        min_face_size = 0.0 if min_face_size in (None, "auto") else min_face_size
        if isinstance(min_face_size, (str, bool)):
            raise UserError(f"Landmarker: min_face_size must be 'auto' or a number of pixels, got {min_face_size!r}")
        for name, value in (("refine", refine), ("max_faces", max_faces), ("min_face_size", min_face_size)):
            if value < 0:
                raise UserError(f"Landmarker: {name} must be 0 or more, got {value}")
        self.backend = backend
        self.layout: Layout = backend.layout
        self.size: int = backend.input_size
        self.enlarge: float = backend.enlarge
        # "default" -> the package's default detector; None -> boxes must be given to predict()
        # min_face_size also steers a named detector's search (BlazeFace's pyramid): smaller is slower
        # a named detector also returns low-scoring proposals, kept only when their landmarks are confident
        # and runs on as many threads as the landmark backend
        self.detector = None if detector is None else as_detector(None if detector == "default" else detector,
                                                                   min_face_size=min_face_size or None,
                                                                   proposals=True,
                                                                   threads=getattr(backend, "threads", None))
        self.refine, self.max_faces, self.min_face_size = refine, max_faces, float(min_face_size)
        self.refine_tol = float(refine_tol)
        # threads for a batch's crops: the backend's (its `threads=`), else up to 4 of this machine's cores
        self.crop_threads = int(getattr(backend, "threads", None) or min(4, os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        from .parts import PartRefiner

        self.parts = PartRefiner(parts) if parts else None

    def crop_pool(self) -> ThreadPoolExecutor:
        """This landmarker's pool for the anti-aliased crops of a batch (`crop_threads` workers).

        A forked child inherits the pool but not its threads (work queued there would never run):
        it starts its own."""
        if self._pool is None or self._pool_pid != os.getpid() or self._pool._max_workers != self.crop_threads:
            self._pool = ThreadPoolExecutor(self.crop_threads, thread_name_prefix="pipnet106-crop")
            self._pool_pid = os.getpid()
        return self._pool

    def close(self) -> None:
        """End the crop threads (a later batch starts them again)."""
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.shutdown(wait=True)
        self._pool = None

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- constructors ----
    @classmethod
    def from_onnx(cls, path: str | Path, threads: int | None = None, layout: str | None = None,
                  **kw) -> "Landmarker":
        """An exported model run by onnxruntime (no torch needed). `layout` checks the file's layout.
        Part models the file names (metadata `parts`, files next to it) are loaded with it, unless
        `parts=` is given (`parts=()` runs without them)."""
        from .backends import OnnxBackend, part_backends

        backend = OnnxBackend(path, threads=threads, layout=layout)
        if "parts" not in kw:
            kw["parts"] = part_backends(backend, threads=threads)
        return cls(backend, **kw)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", layout: str | None = None,
                        **kw) -> "Landmarker":
        """A training checkpoint run by PyTorch. `layout` checks the checkpoint's layout."""
        from .backends import TorchBackend

        return cls(TorchBackend.from_checkpoint(path, device=device, layout=layout), **kw)

    @classmethod
    def from_path(cls, path: str | Path, device: str = "cpu", threads: int | None = None,
                  layout: str | None = None, **kw) -> "Landmarker":
        """ONNX export or PyTorch checkpoint, decided by `backends.load_backend` (extension, then content);
        an ONNX file's part models come with it (see `from_onnx`)."""
        from .backends import load_backend, part_backends

        backend = load_backend(path, device=device, threads=threads, layout=layout)
        if "parts" not in kw:
            kw["parts"] = part_backends(backend, threads=threads)
        return cls(backend, **kw)

    @classmethod
    def default(cls, **kw) -> "Landmarker":
        """The shipped starter model (ONNX when onnxruntime is installed, else the PyTorch checkpoint)."""
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            if not STARTER_PT.is_file():
                raise UserError(f"{STARTER_PT}: starter checkpoint missing from this install") from None
            return cls.from_checkpoint(STARTER_PT, **kw)
        if not STARTER_ONNX.is_file():
            raise UserError(f"{STARTER_ONNX}: starter model missing from this install")
        return cls.from_onnx(STARTER_ONNX, **kw)

    # ---- the three steps ----
    def preprocess(self, image: np.ndarray, transforms: Sequence[CropTransform]) -> np.ndarray:
        """Crops (B, S, S, 3) uint8 BGR, one per transform."""
        if not transforms:
            return np.zeros((0, self.size, self.size, 3), np.uint8)
        # anti-aliased crops (faces shrunk by more than 2) cost ~0.6 ms each, 6x a warp; they release the
        # GIL (OpenCV, numpy), so a batch of them runs on the landmark backend's threads (before the
        # network runs, so the two never compete): 8 crops of 300-px faces 9.4 -> 5.7 ms on 2 threads
        # with the earlier float64 crop
        if len(transforms) == 1:  # one face (a video call): no copy into a batch
            return transforms[0].apply(image)[None]
        if self.crop_threads > 1 and sum(t.scale < AREA_FILTER_BELOW for t in transforms) > 1:
            return np.stack(list(self.crop_pool().map(lambda t: t.apply(image), transforms)))
        return np.stack([t.apply(image) for t in transforms])

    def inference(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalized points (B, N, 2) and confidences (B, N)."""
        return self._infer(crops)[:2]

    def _infer(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Points, confidences and visibility (B, N) (None for models without a visibility output)."""
        if len(crops) == 0:
            n = self.layout.num_points
            vis = np.zeros((0, n), np.float32) if getattr(self.backend, "has_visibility", False) else None
            return np.zeros((0, n, 2), np.float32), np.zeros((0, n), np.float32), vis
        if hasattr(self.backend, "predict"):
            return self.backend.predict(crops)
        return (*self.backend(crops), None)   # a backend of the user's own with the two-output interface

    def postprocess(self, points: np.ndarray, transforms: Sequence[CropTransform]) -> list[np.ndarray]:
        """Normalized crop points -> source pixels."""
        return [t.to_source(p * self.size) for p, t in zip(points, transforms)]

    # ---- composition ----
    def crop_for_box(self, box: np.ndarray, calibration: Sequence[float] | None = None) -> CropTransform:
        """First-pass crop from a box, with the training enlargement.

        `calibration` (dx, dy, sw, sh), declared by a detector as `landmark_box`, first moves
        its box to where the landmark box usually is, so the first crop is already close to
        the training crop; boxes given by the user are taken as they are.
        """
        return square_crop(calibrated_box(box, calibration), self.size, self.enlarge)

    def landmarks_for_boxes(self, image: np.ndarray, boxes: np.ndarray, refine: int | None = None,
                            calibration: Sequence[float] | None = None, visibility: bool = False
                            ) -> tuple[list[np.ndarray], np.ndarray] | tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
        """Landmarks (source pixels) and confidences for given boxes, batched (and the visibility
        (B, N) with `visibility=True`: None for a model without that output).

        `refine` = number of extra passes, each re-cropping from the previous landmarks with
        the training crop rule (True = 1). Each pass shrinks the gap between a detector box and
        the landmark box the model was trained on.
        """
        out = self._refine(image, *self._first_pass(image, boxes, calibration), refine)
        return out if visibility else out[:2]

    def _first_pass(self, image: np.ndarray, boxes: np.ndarray, calibration: Sequence[float] | None
                    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None, list[CropTransform]]:
        """Points (source pixels), confidences, visibility and the crops they came from, for detector/given boxes."""
        transforms = [self.crop_for_box(b, calibration) for b in boxes]
        pts, conf, vis = self._infer(self.preprocess(image, transforms))
        return self.postprocess(pts, transforms), conf, vis, transforms

    def _refine(self, image: np.ndarray, src: list[np.ndarray], conf: np.ndarray, vis: np.ndarray | None,
                transforms: list[CropTransform], refine: int | None = None
                ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
        """`refine` extra passes over faces whose points `src` came from the crops `transforms`."""
        refine = self.refine if refine is None else refine
        for _ in range(int(refine) if len(src) else 0):
            # a face whose training crop (from these points) is within refine_tol of the crop just
            # used would get (nearly) the same input again: keep its points, re-run only the others
            nxt = [crop_from_points(p, self.size, self.enlarge) for p in src]
            todo = [i for i, (t, n) in enumerate(zip(transforms, nxt))
                    if self.refine_tol <= 0 or crop_change(t, n) > self.refine_tol]
            if not todo:
                break
            tr = [nxt[i] for i in todo]
            p2, c2, v2 = self._infer(self.preprocess(image, tr))
            conf = np.array(conf, copy=True)
            vis = None if vis is None else np.array(vis, copy=True)
            for j, (i, p) in enumerate(zip(todo, self.postprocess(p2, tr))):
                src[i], conf[i], transforms[i] = p, c2[j], tr[j]
                if vis is not None:
                    vis[i] = v2[j]
        if self.parts is not None:
            src, conf, vis = self.parts.refine(image, src, conf, vis)
        return src, conf, vis

    def landmarks_from_points(self, image: np.ndarray, previous: Sequence[np.ndarray], visibility: bool = False):
        """Track: crop each face from earlier landmarks (the training rule) and predict once."""
        return self.landmarks_in_crops(image, [crop_from_points(p, self.size, self.enlarge) for p in previous],
                                       visibility)

    def landmarks_in_crops(self, image: np.ndarray, transforms: Sequence[CropTransform], visibility: bool = False):
        """Points (source pixels) and confidences of the faces in these crops, one batch (and the
        visibility with `visibility=True`, None for a model without it)."""
        pts, conf, vis = self._infer(self.preprocess(image, transforms))
        out = self.postprocess(pts, transforms), conf, vis
        if self.parts is not None:
            out = self.parts.refine(image, *out)
        return out if visibility else out[:2]

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (K, 4) and scores (K,) after the size/count filters, largest faces first."""
        if self.detector is None:
            raise UserError("no face detector configured: pass boxes=... or a detector")
        from ..detect import run_detector

        dets = run_detector(self.detector, image)
        boxes = np.array([d.box for d in dets], dtype=np.float64).reshape(-1, 4)
        scores = np.array([d.score for d in dets], dtype=np.float64)
        return self._filter(boxes, scores)

    def _filter(self, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) if len(boxes) else np.zeros(0)
        keep = side >= self.min_face_size
        boxes, scores, side = boxes[keep], scores[keep], side[keep]
        order = np.argsort(-side, kind="stable")
        if self.max_faces:
            order = order[: self.max_faces]
        return boxes[order], scores[order]

    def confirmed(self, scores: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """Which detections are faces: all of them, unless the detector marks low scores as proposals
        (`confirm` = (score below which, mean landmark confidence needed)); then those need confident
        landmarks, which hands, fabric and other face-like textures do not get."""
        rule = getattr(self.detector, "confirm", None)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if rule is None or not len(scores):
            return np.ones(len(scores), dtype=bool)
        mean_conf = np.asarray(conf, dtype=np.float64).reshape(len(scores), -1).mean(axis=1)
        return (scores >= rule[0]) | (mean_conf >= rule[1])

    def predict(self, image, boxes: Iterable | None = None, color: str = "bgr") -> list[Face]:
        """All faces of one image. `boxes` (x0, y0, x1, y1[, score]) skip the detector."""
        bgr = as_bgr(image, color)
        if boxes is not None:
            arr = np.asarray(boxes, dtype=np.float64)
            arr = arr.reshape(0, 4) if arr.size == 0 else arr.reshape(-1, arr.shape[-1])
            if arr.shape[1] not in (4, 5):
                raise UserError(f"boxes must be (x0, y0, x1, y1[, score]) rows; got shape {arr.shape}")
            scores = arr[:, 4] if arr.shape[1] > 4 else np.ones(len(arr))
            b, s = self._filter(arr[:, :4], scores)
            calibration = None
        else:
            b, s = self.detect(bgr)
            calibration = getattr(self.detector, "landmark_box", None)
        pts, conf, vis, transforms = self._first_pass(bgr, b, calibration)
        if boxes is None and getattr(self.detector, "confirm", None) is not None and len(b):
            # low-score proposals whose first pass is far from confident are dropped before the
            # refinement pass: on a large photo most candidates are such proposals
            hopeless = (s < self.detector.confirm[0]) & (conf.mean(axis=1) < PROPOSAL_FIRST_PASS_CONF)
            idx = np.flatnonzero(~hopeless)
            b, s, conf, vis = b[idx], s[idx], conf[idx], None if vis is None else vis[idx]
            pts, transforms = [pts[i] for i in idx], [transforms[i] for i in idx]
        pts, conf, vis = self._refine(bgr, pts, conf, vis, transforms)
        vis_of = (lambda i: None) if vis is None else (lambda i: vis[i])
        if boxes is not None:  # the user's boxes: every one is answered, as given
            return [Face(bx, float(sc), p, c, self.layout, visibility=vis_of(i))
                    for i, (bx, sc, p, c) in enumerate(zip(b, s, pts, conf))]
        keep = self.confirmed(s, conf)
        # a detector that says where its box puts the landmark box lets the points be checked against it
        return one_per_face([Face(bx, float(sc), p, c, self.layout, visibility=vis_of(i),
                                  expected_box=None if calibration is None else calibrated_box(bx, calibration))
                             for i, (bx, sc, p, c, k) in enumerate(zip(b, s, pts, conf, keep)) if k])

    __call__ = predict
