"""`pipnet106 show`: draw labels on a few samples so a human can check the point order.

Works on a prepared folder (train.txt / test.txt + images/) or on source labels (a folder of
``photo.jpg`` + ``photo.txt``, a LaPa folder or a JSONL file). Points are coloured by region and
labelled with their index (``--no-numbers`` for dots only): a mirrored or shifted label order is
visible at a glance before any training time is spent.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..draw import draw_legend, draw_points
from ..errors import SampleError, UserError
from ..fileio import atomic_write_image, read_image
from .formats import load_source, read_list, read_sample_points
from ..layout import Layout, get_layout

SPLITS = ("train", "test", "all")


def is_prepared(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and ((p / "train.txt").is_file() or (p / "test.txt").is_file())


def _layout_of(folder: Path, default: str) -> Layout:
    try:
        m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        return get_layout(m["layout"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        return get_layout(default)
    except ValueError as e:
        raise UserError(str(e)) from None


def _prepared_items(folder: Path, split: str, lay: Layout):
    """(title, image path, normalized points, True) from the prepared lists, in list order."""
    splits = ("train", "test") if split == "all" else (split,)
    for sp in splits:
        lst = folder / f"{sp}.txt"
        if not lst.is_file():
            if split != "all":
                raise UserError(f"{lst}: list not found")
            continue
        for name, pts in read_list(lst, lay.num_points):
            yield f"{sp}_{Path(name).stem}", folder / name, pts, True


def _source_items(src: Path, lay: Layout, labels_dir: str | None):
    fmt, samples = load_source(src, "auto", labels_dir)
    for s in samples:
        title = s.key.replace("/", "__")
        try:
            if s.image is None:
                raise SampleError(s.label, "missing image")
            yield title, s.image, read_sample_points(s, fmt, lay.num_points), False
        except SampleError as e:
            print(f"skip {e}")


def render(image: np.ndarray, points: np.ndarray, lay: Layout, numbers: bool, display: int) -> np.ndarray:
    """Upscale small images to `display` (long side) so 106 index numbers stay readable, then draw."""
    h, w = image.shape[:2]
    s = display / max(h, w) if display and max(h, w) < display else 1.0
    if s != 1.0:
        image = cv2.resize(image, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_LINEAR)
    drawn = draw_points(image, np.asarray(points, dtype=np.float64) * s, lay, numbers=numbers)
    return draw_legend(drawn, lay)


def show(path: str | Path, out: str | Path, split: str = "train", num: int = 20, numbers: bool = True,
         layout: str = "lapa106", labels_dir: str | None = None, display: int = 800) -> list[Path]:
    """Write up to `num` annotated PNGs to `out`; returns their paths."""
    src, out = Path(path), Path(out)
    if split not in SPLITS:
        raise UserError(f"--split must be one of {', '.join(SPLITS)}")
    if num < 1:
        raise UserError("--num must be >= 1")
    if not src.exists():
        raise UserError(f"{src}: not found")
    prepared = is_prepared(src)
    if prepared:
        lay = _layout_of(src, layout)
        items = _prepared_items(src, split, lay)
    else:
        try:
            lay = get_layout(layout)
        except ValueError as e:
            raise UserError(str(e)) from None
        if src.is_dir():
            try:
                out.resolve().relative_to(src.resolve())
                raise UserError(f"--out {out} is inside the source folder {src}; sources are never modified")
            except ValueError:
                pass
        items = _source_items(src, lay, labels_dir)
    written: list[Path] = []
    for title, img_path, pts, normalized in items:
        if len(written) >= num:
            break
        try:
            image = read_image(img_path)
        except SampleError as e:
            print(f"skip {e}")
            continue
        if normalized:
            h, w = image.shape[:2]
            pts = pts * np.array([w, h], dtype=np.float64)
        dst = out / f"{len(written):03d}_{title}.png"
        atomic_write_image(dst, render(image, pts, lay, numbers, display))
        written.append(dst)
    if not written:
        raise UserError(f"{src}: no samples to show")
    print(f"wrote {len(written)} image(s) to {out}")
    return written


