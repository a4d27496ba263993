"""BlazeFace: MediaPipe's SSD face detectors, shipped as ONNX inside the package.

Two models (weights: Google's MediaPipe, Apache-2.0, see assets/NOTICE-mediapipe.txt;
converted by tools/convert_blazeface.py):

* ``short``: 128x128 input, 896 anchors, trained on faces that fill a good part
  of the frame (selfies, portraits, crops).
* ``full``: 192x192 input, 2304 anchors on a stride-4 grid, trained for faces
  at a distance (group photos).

Pipeline: letterbox the image into the square input (aspect kept, black
border), run the network (onnxruntime when installed, else OpenCV's dnn), turn
each anchor's regression into a box + 6 keypoints, sigmoid the score, merge
overlapping boxes with weighted NMS, map back to source pixels. Large images
with small faces can also be cut into overlapping tiles (`tile`), each tile
run as its own letterboxed input, so a face keeps enough input pixels.
"""
from __future__ import annotations

import math
import numbers
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..crop import CropTransform, letterbox_transform
from ..constants import ASSETS
from ..errors import UserError
from .base import Detection, box_containment, check_image, finish, nms

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")


@dataclass(frozen=True)
class ModelSpec:
    """Everything the decoder needs to know about one network (MediaPipe's SSD anchor options)."""

    file: str
    size: int
    strides: tuple[int, ...]
    anchors_per_layer: int
    """Anchors each layer adds per location: one per aspect ratio (only 1.0 here),
    plus one when MediaPipe's `interpolated_scale_aspect_ratio` is set."""
    score_threshold: float
    """Default minimum score. MediaPipe uses 0.5 (short) and 0.6 (full); on our 24
    test photos 0.5 for full added 24 more small faces, all real, and no false alarm."""
    min_face: float
    """Default smallest face (source pixels) looked for with a pyramid of windows (0 = whole image only);
    on photos larger than 1.44 megapixels the default grows with the photo (`MIN_FACE_SHARE`)."""


MODELS = {
    "short": ModelSpec("blazeface_short.onnx", 128, (8, 16, 16, 16), 2, 0.5, 0.0),
    "full": ModelSpec("blazeface_full.onnx", 192, (4,), 1, 0.5, 24.0),
}


def ssd_anchor_centres(size: int, strides: tuple[int, ...], per_layer: int) -> np.ndarray:
    """(N, 2) anchor centres, normalized to [0, 1], in the network's output order.

    Consecutive layers with the same stride share one feature map and stack
    their anchors per location; locations run row by row, anchors innermost.
    With fixed anchor size every anchor is 1 x 1, so only the centres matter.
    """
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        fm = math.ceil(size / strides[i])
        c = (np.arange(fm) + 0.5) / fm
        ys, xs = np.meshgrid(c, c, indexing="ij")
        grid = np.stack([xs, ys], -1).reshape(-1, 1, 2)
        out.append(np.repeat(grid, (j - i) * per_layer, axis=1).reshape(-1, 2))
        i = j
    return np.concatenate(out).astype(np.float64)


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, size: int,
           threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> boxes (M, 4) and keypoints (M, 6, 2) in input pixels, scores (M,).

    The regression is in input pixels relative to the anchor centre (x before y);
    dividing by the input size and adding the normalized anchor gives [0, 1] coordinates.
    """
    reg = regressors.reshape(-1, 16).astype(np.float64)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100, 100)))
    keep = np.flatnonzero(scores >= threshold)
    reg, scores, a = reg[keep], scores[keep], anchors[keep]
    cx = reg[:, 0] / size + a[:, 0]
    cy = reg[:, 1] / size + a[:, 1]
    w = reg[:, 2] / size
    h = reg[:, 3] / size
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1) * size
    kps = (reg[:, 4:16].reshape(-1, 6, 2) / size + a[:, None, :]) * size
    return boxes, kps, scores


def letterbox(image: np.ndarray, size: int, fill: float = 1.0) -> tuple[np.ndarray, CropTransform]:
    """Square `size` input with the whole image centred, its long side `fill` of the input,
    plus the source->input transform.

    Strong shrinking first averages k x k pixel blocks (exact, anti-aliased), then
    warps the rest, so the result matches `CropTransform` exactly.
    """
    h, w = image.shape[:2]
    t = letterbox_transform(w, h, size)
    if fill != 1.0:
        sc = t.scale * fill
        t = CropTransform(sc, (size - w * sc) / 2.0, (size - h * sc) / 2.0, size)
    k = int(1.0 / (2.0 * t.scale)) if t.scale < 0.5 else 1
    if k > 1:
        ph, pw = -h % k, -w % k
        img = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_REPLICATE) if ph or pw else image
        img = cv2.resize(img, ((w + pw) // k, (h + ph) // k), interpolation=cv2.INTER_AREA)
        canvas = CropTransform(t.scale * k, t.offset_x, t.offset_y, size).apply(img)
    else:
        canvas = t.apply(image)
    return canvas, t


def to_input(canvas_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (S, S, 3) -> float32 (1, 3, S, S) RGB in [-1, 1]."""
    x = canvas_bgr[:, :, ::-1].astype(np.float32) * (1.0 / 127.5) - 1.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


class _Runner:
    """One network, run by onnxruntime when importable, else by OpenCV's dnn module."""

    def __init__(self, path: Path, engine: str, threads: int | None) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        if engine == "onnxruntime":
            import onnxruntime as ort

            from ..runtime import ort_session_options  # the landmark model's settings (no spinning between runs)

            self.sess = ort.InferenceSession(str(path), ort_session_options(threads),
                                             providers=["CPUExecutionProvider"])
        else:
            self.net = cv2.dnn.readNetFromONNX(str(path))
            self.out_names = list(self.net.getUnconnectedOutLayersNames())

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.engine == "onnxruntime":
            reg, sc = self.sess.run(["regressors", "scores"], {"image": x})
            return reg, sc
        with self.lock:  # a cv2.dnn Net is not safe to share between threads
            self.net.setInput(x)
            outs = dict(zip(self.out_names, self.net.forward(self.out_names)))
        return outs["regressors"], outs["scores"]


def _pick_engine(engine: str) -> str:
    if engine not in ("auto", "onnxruntime", "opencv"):
        raise UserError(f"blazeface engine must be auto, onnxruntime or opencv, got '{engine}'")
    if engine != "auto":
        return engine
    try:
        import onnxruntime  # noqa: F401

        return "onnxruntime"
    except ImportError:
        return "opencv"


@lru_cache(maxsize=8)
def _runner(model: str, engine: str, threads: int | None) -> _Runner:
    path = ASSETS / MODELS[model].file
    if not path.is_file():
        raise UserError(f"{path}: BlazeFace model file missing from the installed package; reinstall pipnet106")
    try:
        return _Runner(path, engine, threads)
    except ImportError:
        raise UserError("blazeface engine 'onnxruntime' is not installed; pip install onnxruntime "
                        "or use engine='opencv'") from None


@lru_cache(maxsize=8)
def _anchors(model: str) -> np.ndarray:
    s = MODELS[model]
    return ssd_anchor_centres(s.size, s.strides, s.anchors_per_layer)


def _windows_along(n: int, tile: int, overlap: float) -> int:
    """How many `tile` windows overlapping by `overlap` of a side cover a side of `n` pixels."""
    return 1 if n <= tile else math.ceil((n - tile) / (tile * (1.0 - overlap))) + 1


def tile_grid(width: int, height: int, tile: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Overlapping square windows (x0, y0, x1, y1) of side `tile` covering the image.

    Neighbouring windows overlap by at least `overlap` of a side so a face cut
    by one window's edge is whole in the next one.
    """
    def starts(n: int) -> list[int]:
        count = _windows_along(n, tile, overlap)
        return [0] if count == 1 else [round(i * (n - tile) / (count - 1)) for i in range(count)]

    return [(x, y, min(x + tile, width), min(y + tile, height)) for y in starts(height) for x in starts(width)]


def _cut_by_window(box: np.ndarray, window: tuple[int, int, int, int], width: int, height: int) -> bool:
    """True when the box runs into a window edge that is not an image edge (a part-face)."""
    x0, y0, x1, y1 = window
    m = 0.02 * max(x1 - x0, y1 - y0)
    return bool((x0 > 0 and box[0] < x0 + m) or (y0 > 0 and box[1] < y0 + m)
                or (x1 < width and box[2] > x1 - m) or (y1 < height and box[3] > y1 - m))


@dataclass(frozen=True)
class Level:
    """One scale of the detection pyramid: the image shrunk by `scale`, cut into `windows`
    (x0, y0, x1, y1 in source pixels), each window one network run."""

    scale: float
    windows: tuple[tuple[int, int, int, int], ...]
    fill: float = 1.0
    """Whole-image levels only: the part of the input side the image's long side fills."""


FACE_INPUT_PX = 15.0
"""Smallest face side (BlazeFace box, pixels of the 192-px network input) the full-range model
still finds reliably; below it recall falls fast (measured on the verified boxes of the shared
group photos, benchmarks/detect_small_faces.py). A face of `min_face_size` source pixels is
shrunk to this size at the finest level."""

ZOOM_OUT_FILL = 0.5
"""The whole image also runs zoomed out, its long side filling this part of the input: the
full-range model misses faces that fill most of its input (a close-up portrait or a selfie),
e.g. it found 14 of 60 350-px LFW portraits letterboxed whole, and 60 of 60 at half the input."""

LEVEL_RATIO = 3.0
"""Scale step between pyramid levels: each level is responsible for faces of FACE_INPUT_PX up to
LEVEL_RATIO times that in its input; bigger faces are found whole at the next, coarser level."""


MIN_FACE_SHARE = 0.02
"""Default smallest face as a share of the photo's size, sqrt(width * height), above the model's
`min_face` floor (`auto_min_face`): 24 px up to 1.44 megapixels (every shared photo, the 1600x898
crowd 17.jpg included), 52 px on 3024x2270, 70 px on a 12-megapixel 4032x3024 phone photo. The
pyramid's cost grows with area / min face^2, so above 1.44 megapixels it stays at that of a
1.44-megapixel photo (30 network runs on 4032x3024 against 251 at a fixed 24 px, 14 on 1024x768),
and a face's skin texture, magnified on a big photo, is no longer searched for 20-px faces.
Measured in benchmarks/detect_phone_photos.py (docs/detection.md, "Small faces")."""


def auto_min_face(width: int, height: int, floor: float) -> float:
    """The default smallest face on a `width` x `height` photo: `MIN_FACE_SHARE` of sqrt(width *
    height), never below `floor` (the model's `min_face`; 0 stays 0: whole image only)."""
    return max(float(floor), MIN_FACE_SHARE * math.sqrt(width * height)) if floor else 0.0


FIT_SLACK = 0.05
"""A pyramid level may be up to this much coarser than `FACE_INPUT_PX` asks when that saves a row or
column of windows (`_fitted_tile`): 17 -> 14 runs on a 1024x768 photo, recall unchanged (docs/detection.md)."""


def scale_plan(width: int, height: int, size: int, min_face_size: float, overlap: float = 0.25,
               max_windows: int = 400) -> list[Level]:
    """Pyramid levels, finest first, that find faces of `min_face_size` source pixels and up.

    The coarsest levels are always the whole image letterboxed into one input, and once more
    zoomed out to `ZOOM_OUT_FILL` of it (faces filling the photo). Finer
    levels are added, each `LEVEL_RATIO` apart, until a face of `min_face_size` becomes
    `FACE_INPUT_PX` input pixels; each is cut into `size`-px input windows overlapping by
    `overlap` of a side (>= the largest face the level is responsible for). Cost: about
    (width * height) * (FACE_INPUT_PX / min_face_size)**2 / (size**2 * (1 - overlap)**2) runs
    for the finest level, plus a ninth of that for the next, ... `max_windows` caps the finest
    level by coarsening it (for very large photos with a tiny `min_face_size`).
    """
    whole = size / max(width, height)
    levels = [Level(whole, ()), Level(whole * ZOOM_OUT_FILL, (), ZOOM_OUT_FILL)]
    target = FACE_INPUT_PX / max(float(min_face_size), 1.0)
    if target <= whole * 1.15:  # the whole-image run already sees the smallest face large enough
        return levels
    scales = []
    s = target
    while s > whole * 1.15:  # every level the whole-image run is too coarse for
        scales.append(s)
        s /= LEVEL_RATIO
    for s in reversed(scales):  # coarse to fine, so the cap below only coarsens the finest
        tile = _fitted_tile(width, height, max(int(math.ceil(size / s)), 1), overlap)
        wins = tile_grid(width, height, tile, overlap)
        while len(wins) > max_windows:
            tile = int(tile * 1.2) + 1
            wins = tile_grid(width, height, tile, overlap)
        levels.insert(0, Level(size / tile, tuple(wins)))
    return levels


def _fitted_tile(width: int, height: int, tile: int, overlap: float) -> int:
    """`tile`, or a window up to `FIT_SLACK` larger when that needs fewer windows.

    The window count steps with the image size: on a 1024x768 photo, 24-px faces need windows of
    308 source px, 5 x 3 of them, while 316-px windows (faces of 23.4 px become 15 input px
    instead of 24) need 4 x 3. The smallest window with the fewest windows in that range wins.
    """
    def count(t: int) -> int:
        return _windows_along(width, t, overlap) * _windows_along(height, t, overlap)

    best, fewest = tile, count(tile)
    for t in range(tile + 1, int(tile * (1.0 + FIT_SLACK)) + 1):
        if count(t) < fewest:
            best, fewest = t, count(t)
    return best


class BlazeFaceDetector:
    """MediaPipe BlazeFace via ONNX; no download, no mediapipe needed.

    model: "full" (default, faces near and far) or "short" (large faces only, fastest).
    score_threshold: minimum sigmoid score (None = 0.5, see `ModelSpec.score_threshold`).
    nms_iou: boxes overlapping more than this are merged (weighted NMS), within and across
        windows and scales.
    min_face_size: smallest face side (source pixels) to look for; chooses the detection pyramid
        from the image size (`scale_plan`): the whole image in one run finds faces of about
        1/13 of the long side and up; for smaller faces the image is also cut into overlapping
        windows at one or more finer scales. Cost grows with (image area / min_face_size^2):
        on a 1024x768 photo, 24 px takes 14 runs of the network, 40 px 8, 80 px 2.
        None or "auto" (default): the model's default, relative to each photo (`auto_min_face`;
        full: 24 px up to 1.44 megapixels, then `MIN_FACE_SHARE` of sqrt(width * height), 70 px on
        a 12-megapixel photo; short: no windows).
    tile: legacy fixed window side (source pixels) instead of `min_face_size`; 0 = whole
        image only.
    max_tiles: cap on windows per pyramid level (larger photos then get proportionally larger
        windows, so their smallest findable face grows).
    engine: "auto" (onnxruntime if installed, else OpenCV dnn), "onnxruntime", "opencv".
    threads: intra-op threads for onnxruntime (None = its default).
    proposals: also return detections scoring from this value up to `score_threshold`, as
        proposals for a landmark pipeline to confirm (`confirm`): small faces in crowds often
        score 0.2-0.5, and so do hands and fabric; the landmark model tells them apart (a face
        gets confident points). `Landmarker` builds its default detector with 0.2.
    """

    CONFIRM_CONF = 0.45
    """Mean landmark confidence a proposal needs to be kept as a face (`Landmarker.confirmed`);
    on the shared photos this keeps 95.9% of faces >= 24 px with 19 false alarms, against 96.2%
    with 127 unconfirmed (benchmarks/detect_small_faces.py, pipeline rows)."""

    landmark_box = (0.0024, 0.0932, 0.9087, 0.8821)
    """Where the 106-point landmark box sits relative to this detector's box: centre shift
    (dx, dy) and size (sw, sh) in units of the box. Measured with tools/calibrate_detector.py
    on 560 held-out real faces (teacher labels); residual std 0.066, 0.029, 0.061, 0.061."""

    def __init__(self, model: str = "full", score_threshold: float | None = None, nms_iou: float = 0.3,
                 min_face_size: float | str | None = None, tile: int | None = None, max_tiles: int = 400,
                 engine: str = "auto", threads: int | None = None, proposals: float | None = None) -> None:
        if model not in MODELS:
            raise UserError(f"blazeface model must be one of {', '.join(MODELS)}, got '{model}'")
        if tile and tile < 64:
            raise UserError(f"blazeface tile must be at least 64 pixels (or 0 for none), got {tile}")
        self.auto_min_face = min_face_size is None or (isinstance(min_face_size, str) and min_face_size == "auto")
        number = isinstance(min_face_size, numbers.Real) and not isinstance(min_face_size, bool)
        if not self.auto_min_face and not (number and math.isfinite(min_face_size) and min_face_size >= 4):
            raise UserError(f"blazeface min_face_size must be 'auto' or at least 4 pixels, got {min_face_size!r}")
        self.model = model
        self.spec = MODELS[model]
        self.score_threshold = self.spec.score_threshold if score_threshold is None else float(score_threshold)
        if not 0.0 <= self.score_threshold <= 1.0:
            raise UserError(f"blazeface score_threshold must be in [0, 1], got {score_threshold}")
        if proposals is not None and not 0.0 < float(proposals) <= self.score_threshold:
            raise UserError(f"blazeface proposals must be in (0, score_threshold={self.score_threshold:g}], "
                            f"got {proposals}")
        self.min_score = self.score_threshold if proposals is None else float(proposals)
        self.confirm = None if proposals is None else (self.score_threshold, self.CONFIRM_CONF)
        """(score below which a detection is a proposal, mean landmark confidence it needs), or None."""
        self.nms_iou = float(nms_iou)
        self.tile = None if tile is None else int(tile)
        self.min_face_size = self.spec.min_face if self.auto_min_face else float(min_face_size)
        """The smallest face looked for; with `auto_min_face` the floor of `min_face_for`."""
        if max_tiles < 1:
            raise UserError(f"blazeface max_tiles must be at least 1, got {max_tiles}")
        self.max_tiles = int(max_tiles)
        self.engine = _pick_engine(engine)
        self.runner = _runner(model, self.engine, threads)
        self.anchors = _anchors(model)
        self.name = f"blazeface-{model}"

    def plan(self, width: int, height: int) -> list[Level]:
        """The pyramid this detector runs on a `width` x `height` image (finest level first)."""
        size = self.spec.size
        if self.tile is not None:  # fixed windows (the former behaviour)
            wins = self.windows(width, height)
            return ([Level(size / self.tile, tuple(wins))] if wins else []) + [Level(size / max(width, height), ())]
        smallest = self.min_face_for(width, height)
        if not smallest:
            return [Level(size / max(width, height), ())]
        return scale_plan(width, height, size, smallest, max_windows=self.max_tiles)

    def min_face_for(self, width: int, height: int) -> float:
        """The smallest face (source pixels) looked for on a `width` x `height` image."""
        return auto_min_face(width, height, self.min_face_size) if self.auto_min_face else self.min_face_size

    def runs(self, width: int, height: int) -> int:
        """Network runs for one image of this size (the cost of `__call__`)."""
        return sum(max(1, len(lv.windows)) for lv in self.plan(width, height))

    def windows(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """Fixed `tile` windows (legacy option): none for small images or tile=0."""
        if not self.tile or max(width, height) <= 1.5 * self.tile:
            return []
        tile = self.tile
        grid = tile_grid(width, height, tile)
        while len(grid) > self.max_tiles:
            tile = int(tile * 1.25)
            grid = tile_grid(width, height, tile)
        return grid if max(width, height) > 1.5 * tile else []

    def _run(self, canvas: np.ndarray, t: CropTransform, shift: np.ndarray) -> list[tuple]:
        reg, logits = self.runner(to_input(canvas))
        boxes, kps, scores = decode(reg, logits, self.anchors, self.spec.size, self.min_score)
        return [((t.to_source(b.reshape(2, 2)) + shift).reshape(4), t.to_source(k) + shift, float(s))
                for b, k, s in zip(boxes, kps, scores)]

    def detect_window(self, image: np.ndarray, window: tuple[int, int, int, int] | None = None,
                      fill: float = 1.0) -> list[Detection]:
        """Raw (pre-NMS) detections of one letterboxed window, in source pixels."""
        x0, y0 = (window[0], window[1]) if window else (0, 0)
        part = image[window[1]:window[3], window[0]:window[2]] if window else image
        canvas, t = letterbox(part, self.spec.size, fill)
        out = []
        for box, k, s in self._run(canvas, t, np.array([x0, y0], dtype=np.float64)):
            if window and _cut_by_window(box, window, image.shape[1], image.shape[0]):
                continue
            out.append(Detection(box, s, k))
        return out

    def jobs(self, width: int, height: int) -> list[tuple[int, int]]:
        """Every network run of `__call__` as (level index, window index; -1 = whole image).

        A video tracker can spread these over several frames (`detect_jobs`) to look for new
        faces at a fraction of a full detection per frame."""
        return [(i, k) for i, lv in enumerate(self.plan(width, height))
                for k in (range(len(lv.windows)) if lv.windows else [-1])]

    def detect_jobs(self, image: np.ndarray, jobs: list[tuple[int, int]]) -> list[Detection]:
        """Merged, filtered detections of some of `jobs(w, h)` (all of them = `__call__`)."""
        image = check_image(image)
        plan = self.plan(image.shape[1], image.shape[0])
        dets: list[Detection] = []
        for i in sorted({i for i, _ in jobs}):
            wins = [k for j, k in jobs if j == i]
            dets += self.detect_level(image, plan[i], None if -1 in wins else wins)
        return finish(drop_nested(nms(dets, self.nms_iou, weighted=True)), image, self.min_score)

    def detect_level(self, image: np.ndarray, level: Level, only: list[int] | None = None) -> list[Detection]:
        """Raw detections of one pyramid level: the image shrunk once, then cut into windows
        (`only`: indices of the windows to run; None = all)."""
        if not level.windows:
            dets = self.detect_window(image, fill=level.fill)
            return dets if level.fill == 1.0 else [d for d in dets if _fills_photo(d.box, image.shape[1], image.shape[0])]
        size, h, w = self.spec.size, image.shape[0], image.shape[1]
        small, s = _shrink(image, level.scale)
        t = CropTransform(s, 0.0, 0.0, size)
        out = []
        for k, win in enumerate(level.windows):
            if only is not None and k not in only:
                continue
            x0, y0 = int(round(win[0] * s)), int(round(win[1] * s))
            canvas = np.zeros((size, size, 3), np.uint8)
            part = small[y0:y0 + size, x0:x0 + size]
            canvas[:part.shape[0], :part.shape[1]] = part
            shift = np.array([x0 / s, y0 / s])
            for box, k, sc in self._run(canvas, t, shift):
                if _cut_by_window(box, win, w, h):
                    continue
                out.append(Detection(box, sc, k))
        return out

    def halvings(self, width: int, height: int) -> int:
        """How often a `width` x `height` photo is first halved (exact 2x2 means, `_halve`) before its
        pyramid is built: as often as the copy stays at least as fine as the finest level needs.
        Each level's area filter then reads a quarter of the pixels per halving: on a 12-megapixel
        photo the four levels' filters take about 170 ms from the photo itself and 25 from its
        quarter-size copy. 0 for every photo up to 1.44 megapixels at the default minimum face."""
        smallest = 0.0 if self.tile is not None else self.min_face_for(width, height)
        if not smallest:
            return 0
        finest = max(FACE_INPUT_PX / smallest, self.spec.size / max(width, height))  # the finest level's shrink
        return max(0, int(math.floor(math.log2(1.0 / finest) + 1e-9)))

    def __call__(self, image_bgr: np.ndarray) -> list[Detection]:
        image = check_image(image_bgr)
        h, w = image.shape[:2]
        n = self.halvings(w, h)
        if n:  # the same pyramid, on a copy 2**n times smaller: boxes and keypoints scale back exactly
            small = _halve(image, n)
            plan = scale_plan(small.shape[1], small.shape[0], self.spec.size, self.min_face_for(w, h) / 2 ** n,
                              max_windows=self.max_tiles)
        else:
            small, plan = image, self.plan(w, h)
        dets: list[Detection] = []
        for level in plan:
            dets += self.detect_level(small, level)
        if n:
            k = float(2 ** n)
            dets = [Detection(d.box * k, d.score, None if d.keypoints is None else d.keypoints * k) for d in dets]
        return finish(drop_nested(nms(dets, self.nms_iou, weighted=True)), image, self.min_score)


def _halve(image: np.ndarray, n: int) -> np.ndarray:
    """The image shrunk 2**n times by n rounds of exact 2x2 means (an odd last row or column is
    repeated): pixel j of the result covers source pixels [j * 2**n, (j + 1) * 2**n)."""
    for _ in range(n):
        h, w = image.shape[:2]
        if h % 2 or w % 2:
            image = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return image


def _fills_photo(box: np.ndarray, width: int, height: int) -> bool:
    """What the zoomed-out run is for: a face at least a quarter of the photo's long side, lying
    mostly (70% of its box) inside the photo. On a zoomed-out crowd the model can report the
    whole padded canvas as one low-score face, which would swallow the real small faces."""
    x0, y0, x1, y1 = box
    area = max(x1 - x0, 1e-6) * max(y1 - y0, 1e-6)
    inside = max(min(x1, width) - max(x0, 0), 0) * max(min(y1, height) - max(y0, 0), 0)
    return bool(inside >= 0.7 * area and np.sqrt(area) >= 0.25 * max(width, height))


def drop_nested(dets: list[Detection], inside: float = 0.6, ratio: float = 2.5) -> list[Detection]:
    """Drop detections lying mostly (`inside` of their area) within one at least `ratio` times their
    size: at fine pyramid levels parts of a big face (an eye, a nostril pair) can look like a small
    face; neighbouring faces in a crowd never nest like that."""
    if len(dets) < 2:
        return dets
    boxes = np.stack([d.box for d in dets])
    side = np.sqrt(np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 0, None))
    keep = []
    for i, d in enumerate(dets):
        big = side >= ratio * side[i]
        if big.any() and box_containment(d.box, boxes[big]).max() > inside:
            continue
        keep.append(d)
    return keep


def _shrink(image: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """The image resized by about `scale` (area filter when shrinking), and the exact scale used."""
    h, w = image.shape[:2]
    if abs(scale - 1.0) < 1e-6:
        return image, 1.0
    nw = max(1, int(round(w * scale)))
    s = nw / w
    nh = max(1, int(round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (nw, nh), interpolation=interp), s


def short_range(**kw) -> BlazeFaceDetector:
    """BlazeFace short-range (128 px input): big faces, fastest."""
    return BlazeFaceDetector(model="short", **kw)


def full_range(**kw) -> BlazeFaceDetector:
    """BlazeFace full-range (192 px input): faces near and far."""
    return BlazeFaceDetector(model="full", **kw)
