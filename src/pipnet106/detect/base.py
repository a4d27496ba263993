"""What a face detector is, plus the box helpers every backend shares.

A detector is any callable ``detector(image_bgr) -> list[Detection]``; the
top-down landmark pipeline only needs the boxes (and uses the keypoints, when
a backend gives them, for nothing more than drawing). Backends are looked up by
name through `get_detector`, so the CLI can say ``--detector blazeface``.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from ..errors import UserError


@dataclass
class Detection:
    """One face: `box` (x0, y0, x1, y1) in continuous source pixels, a score in [0, 1]."""

    box: np.ndarray
    score: float = 1.0
    keypoints: np.ndarray | None = None
    """(K, 2) source pixels, or None. BlazeFace gives 6: right eye, left eye, nose tip,
    mouth centre, right ear, left ear (the person's right, i.e. image left when facing)."""

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        self.score = float(self.score)
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float64).reshape(-1, 2)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"box": [round(float(v), 2) for v in self.box], "score": round(self.score, 4)}
        if self.keypoints is not None:
            d["keypoints"] = [[round(float(x), 2), round(float(y), 2)] for x, y in self.keypoints]
        return d


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that maps a BGR uint8 image to a list of `Detection`."""

    def __call__(self, image_bgr: np.ndarray) -> list[Detection]: ...


# ---------------------------------------------------------------- box maths

def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box against (N, 4) boxes."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def box_containment(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection of one (4,) box with each of (N, 4) boxes over the smaller box's area: 1 when
    one lies inside the other whatever their sizes (IoU stays small for a small box in a big one)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    area = max((box[2] - box[0]) * (box[3] - box[1]), 0.0)
    areas = np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 0, None)
    return ix * iy / np.maximum(np.minimum(area, areas), 1e-12)


def nms(detections: list[Detection], iou: float = 0.3, weighted: bool = True) -> list[Detection]:
    """Suppress overlapping boxes, best score first.

    With `weighted`, each kept face is the score-weighted mean of the boxes (and
    keypoints) it suppresses, which steadies SSD outputs where several anchors
    fire on one face; the score stays the best one.
    """
    if not detections:
        return []
    order = sorted(range(len(detections)), key=lambda i: -detections[i].score)
    dets = [detections[i] for i in order]
    boxes = np.stack([d.box for d in dets])
    scores = np.array([d.score for d in dets])
    alive = np.ones(len(dets), dtype=bool)
    kept: list[Detection] = []
    for i in range(len(dets)):
        if not alive[i]:
            continue
        group = np.flatnonzero(alive & (box_iou(boxes[i], boxes) > iou))
        group = np.union1d(group, [i])
        alive[group] = False
        if not weighted or len(group) == 1:
            kept.append(dets[i])
            continue
        w = scores[group] / scores[group].sum()
        box = (boxes[group] * w[:, None]).sum(0)
        kps = None
        if all(dets[j].keypoints is not None for j in group):
            kps = sum(dets[j].keypoints * wj for j, wj in zip(group, w))
        kept.append(Detection(box, dets[i].score, kps))
    return kept


def clip_detection(det: Detection, width: int, height: int) -> Detection | None:
    """Clip the box to the image; None when nothing of it is left inside."""
    b = det.box.copy()
    b[[0, 2]] = np.clip(b[[0, 2]], 0, width)
    b[[1, 3]] = np.clip(b[[1, 3]], 0, height)
    if b[2] - b[0] < 1 or b[3] - b[1] < 1:
        return None
    return Detection(b, det.score, det.keypoints)


def check_image(image: Any) -> np.ndarray:
    """The image contract of every backend: (H, W, 3) uint8 BGR, non-empty."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        desc = f"{type(image).__name__}" if not isinstance(image, np.ndarray) else f"{image.dtype} {image.shape}"
        raise UserError(f"face detector needs a BGR uint8 image of shape (H, W, 3), got {desc}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise UserError(f"face detector got an empty image {image.shape}")
    return image


def finish(dets: list[Detection], image: np.ndarray, min_score: float = 0.0) -> list[Detection]:
    """Clip to the image, drop empty boxes and low scores, sort best first."""
    h, w = image.shape[:2]
    out = []
    for d in dets:
        if d.score < min_score or not np.isfinite(d.box).all():
            continue
        c = clip_detection(d, w, h)
        if c is not None:
            out.append(c)
    return sorted(out, key=lambda d: -d.score)


# ---------------------------------------------------------------- user detectors

def to_detections(result: Any, source: str = "detector") -> list[Detection]:
    """Accept what a user's detector returns: Detection list, (N, 4|5) array, or list of boxes."""
    if result is None:
        return []
    out = []
    for item in result:
        if isinstance(item, Detection):
            out.append(item)
            continue
        row = np.asarray(item, dtype=np.float64).reshape(-1)
        if row.size not in (4, 5) or not np.isfinite(row).all():
            raise UserError(f"{source} returned {item!r}; expected Detection or [x0, y0, x1, y1(, score)]")
        out.append(Detection(row[:4], row[4] if row.size == 5 else 1.0))
    return out


def run_detector(detector: Callable, image: np.ndarray, name: str | None = None) -> list[Detection]:
    """Call any detector on one image; `name` goes to detectors that look boxes up by file name."""
    image = check_image(image)
    if getattr(detector, "wants_name", False):
        result = detector(image, name=name)
    else:
        result = detector(image)
    return finish(to_detections(result, getattr(detector, "name", type(detector).__name__)), image)


# ---------------------------------------------------------------- registry

DETECTORS: dict[str, str | Callable[..., Callable]] = {
    "blazeface": "pipnet106.detect.blazeface:BlazeFaceDetector",
    "blazeface-short": "pipnet106.detect.blazeface:short_range",
    "blazeface-full": "pipnet106.detect.blazeface:full_range",
    "haar": "pipnet106.detect.haar:HaarDetector",
    "boxes": "pipnet106.detect.boxes:BoxesDetector.from_json",
    "mediapipe": "pipnet106.detect.mediapipe:MediaPipeDetector",
}
"""Name -> factory (or "module:attr" imported on first use, so heavy backends load lazily)."""

DEFAULT_DETECTOR = "blazeface"


def register_detector(name: str, factory: Callable[..., Callable]) -> None:
    """Make `get_detector(name)` build your own detector (any callable returning Detections)."""
    DETECTORS[name] = factory


def _factory(name: str) -> Callable[..., Callable]:
    if name not in DETECTORS:
        raise UserError(f"unknown face detector '{name}'; choose from {', '.join(sorted(DETECTORS))}")
    f = DETECTORS[name]
    if isinstance(f, str):
        mod, _, attr = f.partition(":")
        obj: Any = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
        f = obj
    return f


def get_detector(name: str = DEFAULT_DETECTOR, **kw: Any) -> Callable:
    """Build a detector by registry name; unknown options are a one-line UserError."""
    factory = _factory(name)
    try:
        sig = inspect.signature(factory)
        has_var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        bad = [k for k in kw if k not in sig.parameters and not has_var_kw]
    except (TypeError, ValueError):
        bad = []
    if bad:
        raise UserError(f"face detector '{name}' has no option {', '.join(bad)}")
    try:
        return factory(**kw)
    except TypeError as e:  # a factory taking **kw passed on an option nobody knows
        if "keyword argument" not in str(e):
            raise
        raise UserError(f"face detector '{name}': {e}") from None


def accepts_option(name: str, option: str) -> bool:
    """Whether the registered factory `name` takes keyword `option`."""
    try:
        params = inspect.signature(_factory(name)).parameters
    except (TypeError, ValueError):
        return False
    return option in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


PROPOSAL_SCORE = 0.2
"""Lowest detector score a landmark pipeline takes as a proposal (see `BlazeFaceDetector.proposals`)."""


def as_detector(spec: str | Callable | None, min_face_size: float | None = None,
                proposals: bool = False, threads: int | None = None) -> Callable:
    """A detector from a registry name, an existing callable, or None (the default).

    `min_face_size` (pixels; None or 0: the detector's own default) steers a named detector that
    searches by face size (BlazeFace's pyramid, Haar's smallest window); `proposals` asks a named
    detector that can for low-scoring detections too, for the landmark pipeline to confirm;
    `threads` goes to a named detector that runs a network (the landmark model's count, so
    `--threads` holds for the whole pipeline); a callable is used as it is.
    """
    if spec is None:
        spec = DEFAULT_DETECTOR
    if isinstance(spec, str):
        kw: dict[str, Any] = {}
        if threads and accepts_option(spec, "threads"):
            kw["threads"] = int(threads)
        if min_face_size and accepts_option(spec, "min_face_size"):
            kw["min_face_size"] = max(float(min_face_size), 4.0) if spec != "haar" else int(round(min_face_size))
        if proposals and spec.startswith("blazeface") and spec != "blazeface-short":
            kw["proposals"] = PROPOSAL_SCORE
        return get_detector(spec, **kw)
    if callable(spec):
        return spec
    raise UserError(f"face detector must be a name or a callable, got {type(spec).__name__}")


__all__ = [
    "Detection", "FaceDetector", "DETECTORS", "DEFAULT_DETECTOR", "register_detector", "get_detector",
    "as_detector", "accepts_option", "run_detector", "to_detections", "nms", "box_iou", "box_containment",
    "clip_detection", "finish",
    "check_image",
]
