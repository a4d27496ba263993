"""What every landmark backend shares: the `Backend` interface and the reader of the metadata
contract every exported file carries (`apply_meta`).

Its own module so that `backends` (PyTorch, ONNX, and `load_backend`, which opens any model file)
and `mobile_backends` (ncnn, LiteRT) both build on it without importing each other both ways.
No torch here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..constants import INPUT_FORMATS, MOBILE_FORMATS, ONNX_FORMAT, ONNX_VERSION, REQUIRED_META
from ..errors import UserError
from ..layout import Layout, get_layout


class Backend:
    """Common interface. Attributes: layout, input_size, grayscale, enlarge, name, path."""

    layout: Layout
    input_size: int
    grayscale: bool
    enlarge: float
    name: str
    path: Path

    @property
    def num_points(self) -> int:
        return self.layout.num_points

    def check_crops(self, crops: np.ndarray) -> np.ndarray:
        """(B,S,S,3) or one (S,S,3) uint8 crop -> contiguous (B,S,S,3); one-line UserError otherwise."""
        a = np.asarray(crops)
        if a.ndim == 3:
            a = a[None]
        s = self.input_size
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[1:] != (s, s, 3):
            raise UserError(f"{self.path}: expects uint8 BGR crops of shape (B, {s}, {s}, 3), "
                            f"got {a.dtype} {tuple(a.shape)}")
        return np.ascontiguousarray(a)

    def _empty(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        n = self.num_points
        return (np.zeros((0, n, 2), np.float32), np.zeros((0, n), np.float32),
                np.zeros((0, n), np.float32) if self.has_visibility else None)

    has_visibility: bool = False
    """Whether the model has a per-point visibility output (`predict` returns it)."""

    def __call__(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (B, N, 2) normalized to the crop and confidences (B, N)."""
        return self.predict(crops)[:2]

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Points, confidences and visibility (B, N) in [0, 1] (None without that output)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.path.name}, layout={self.layout.name}, input={self.input_size}, "
                f"grayscale={self.grayscale})")


def _check_layout(path: Path, have: Layout, want: str | Layout | None) -> None:
    if want is None:
        return
    try:
        want_name = want.name if isinstance(want, Layout) else get_layout(want).name
    except ValueError as e:
        raise UserError(str(e)) from None
    if want_name != have.name:
        raise UserError(f"{path}: model is for layout {have.name}, expected {want_name}")


FILE_KINDS = {ONNX_FORMAT: "ONNX", MOBILE_FORMATS["ncnn"]: "ncnn", MOBILE_FORMATS["tflite"]: "LiteRT",
              MOBILE_FORMATS["coreml"]: "Core ML"}


def apply_meta(backend: Backend, want_format: str) -> None:
    """Check the pipnet106 metadata of an exported file (`backend.meta`: ONNX metadata_props, the
    .tflite's `pipnet106` entry, the JSON beside an ncnn model) and set the backend's layout,
    input_size, enlarge, grayscale and input_format from it; one-line UserError naming the file.
    One reader for every format, so the files of all runtimes obey the same contract."""
    p, m, kind = backend.path, backend.meta, FILE_KINDS[want_format]
    if m.get("format") != want_format:
        found = f"format {m['format']!r}" if "format" in m else "no pipnet106 metadata"
        raise UserError(f"{p}: not a pipnet106 {kind} export ({found}; make one with `pipnet106 export`)")
    try:
        version = int(m.get("version", "0"))
    except ValueError:
        version = -1
    if not 1 <= version <= ONNX_VERSION:
        raise UserError(f"{p}: pipnet106 {kind} format version {m.get('version')!r} is not supported by this "
                        f"pipnet106 (reads up to {ONNX_VERSION}); upgrade pipnet106 or re-export")
    missing = [k for k in REQUIRED_META if k not in m]
    if missing:
        raise UserError(f"{p}: pipnet106 {kind} metadata lacks {', '.join(missing)}; re-export the model")
    try:
        backend.layout = get_layout(m["layout"])
        backend.input_size = int(m["input_size"])
        backend.enlarge = float(m["crop_enlarge"])
        num_points = int(m["num_points"])
    except ValueError as e:
        raise UserError(f"{p}: bad pipnet106 metadata ({e})") from None
    backend.grayscale = str(m["grayscale"]).strip().lower() in ("1", "true", "yes")
    backend.input_format = m["input_format"]
    if backend.input_format not in INPUT_FORMATS:
        raise UserError(f"{p}: unknown input_format {backend.input_format!r} in metadata")
    if num_points != backend.layout.num_points:
        raise UserError(f"{p}: metadata says {num_points} points but layout {backend.layout.name} has "
                        f"{backend.layout.num_points}")
