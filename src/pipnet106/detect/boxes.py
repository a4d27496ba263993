"""Face boxes the user already has (from another detector, or drawn by hand).

File format (JSON): an object mapping an image name to a list of boxes, each
``[x0, y0, x1, y1]`` or ``[x0, y0, x1, y1, score]`` in source pixels::

    {"group.jpg": [[120, 80, 210, 190], [300, 95, 380, 200, 0.9]], "solo.png": []}

An image is looked up by the name given, then its file name, then its stem, so
keys may be relative paths, file names or stems.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import SampleError, UserError
from ..fileio import read_text_file
from .base import Detection, check_image


def _parse_box(path: Path, key: str, i: int, row: object) -> Detection:
    where = f"{path}: '{key}' box {i}"
    if not isinstance(row, (list, tuple)) or len(row) not in (4, 5):
        raise UserError(f"{where} must be [x0, y0, x1, y1] or [x0, y0, x1, y1, score], got {row!r}"[:300])
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in row):
        raise UserError(f"{where} has a non-numeric or non-finite value: {row!r}"[:300])
    x0, y0, x1, y1 = (float(v) for v in row[:4])
    if x1 <= x0 or y1 <= y0:
        raise UserError(f"{where} is empty or flipped (need x1 > x0 and y1 > y0): {row!r}")
    score = float(row[4]) if len(row) == 5 else 1.0
    return Detection(np.array([x0, y0, x1, y1]), score)


def load_boxes(json_path: str | Path) -> dict[str, list[Detection]]:
    """Read a boxes file; any problem is a one-line UserError naming the file and entry."""
    path = Path(json_path)
    text = read_text_file(path, "boxes file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object mapping image name -> list of boxes, "
                        f"got {type(data).__name__}")
    out: dict[str, list[Detection]] = {}
    for key, rows in data.items():
        if not isinstance(rows, list):
            raise UserError(f"{path}: '{key}' must be a list of boxes, got {type(rows).__name__}")
        out[str(key)] = [_parse_box(path, key, i, r) for i, r in enumerate(rows)]
    return out


class BoxesDetector:
    """Returns the given boxes for an image name; pass ``name=`` (see `run_detector`)."""

    name = "boxes"
    wants_name = True

    def __init__(self, boxes: Mapping[str, list[Detection]], source: str = "boxes") -> None:
        self.boxes = {str(k): list(v) for k, v in boxes.items()}
        self.source = source
        self._by_file = {Path(k).name: k for k in self.boxes}
        self._by_stem = {Path(k).stem: k for k in self.boxes}

    @classmethod
    def from_json(cls, path: str | Path) -> "BoxesDetector":
        return cls(load_boxes(path), source=str(path))

    def lookup(self, name: str | Path) -> list[Detection]:
        key = str(name)
        p = Path(key)
        for k in (key, self._by_file.get(p.name), self._by_stem.get(p.stem)):
            if k is not None and k in self.boxes:
                return [Detection(d.box.copy(), d.score, d.keypoints) for d in self.boxes[k]]
        raise SampleError(name, "no boxes given", f"not in {self.source}")

    def __call__(self, image_bgr: np.ndarray, name: str | Path | None = None) -> list[Detection]:
        check_image(image_bgr)
        if name is None:
            raise UserError("boxes detector needs the image name to look its boxes up")
        return self.lookup(name)
