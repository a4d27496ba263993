"""Prediction over many images as a plain per-batch function, for distributed engines.

`BatchPredictor` is what Ray Data's ``map_batches`` wants from a callable class: it is built once
per worker (the ONNX model is loaded once, in `__init__`), then called with batches of rows
``{"path": array of image paths}``. Every batch writes its own JSONL shard, one line per image,
exactly the records `pipnet106 predict FOLDER` writes (`image_record`), so a million photos never
pass through one process and a killed job can be run again: a shard that already exists is kept.
It returns one small summary row per batch. Nothing here imports Ray; see examples/ray_predict.py.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import SampleError
from ..fileio import atomic_write_text, read_image


def image_record(lm, path: Path, rel: Path, given=None, person_view: bool = False) -> tuple[dict, np.ndarray, list]:
    """One image -> (record, BGR image, faces): the JSON record of `pipnet106 predict`.

    `given` is a `detect.BoxesDetector` of user boxes (looked up by relative path, name, stem).
    Raises `SampleError` for an unreadable image.
    """
    from .landmarker import region_map

    image = read_image(path)
    boxes = None
    if given is not None:  # by relative path, then file name, then stem
        boxes = [[*d.box, d.score] for d in given.lookup(rel)]
    faces = lm.predict(image, boxes=boxes)
    rec = {"image": rel.as_posix(), "source": str(Path(path).resolve()), "width": int(image.shape[1]),
           "height": int(image.shape[0]), "faces": [f.to_dict() for f in faces]}
    if person_view:
        rec.update(view="person", regions=region_map(lm.layout, "person"))
    return rec, image, faces


def error_record(path: Path, rel: Path, err: SampleError) -> dict:
    """The record of an image that could not be read (kept so the output accounts for every input)."""
    return {"image": rel.as_posix(), "source": str(Path(path).resolve()), "faces": [],
            "error": f"{err.reason}" + (f" ({err.detail})" if err.detail else "")}


def predict_paths(lm, paths: Sequence[str | Path], root: str | Path | None = None) -> list[dict]:
    """Records for a list of images; `root` makes the "image" field relative (as for a predicted folder)."""
    out = []
    for p in paths:
        p = Path(p)
        rel = p.relative_to(root) if root is not None else Path(p.name)
        try:
            out.append(image_record(lm, p, rel)[0])
        except SampleError as e:
            out.append(error_record(p, rel, e))
    return out


def shard_name(paths: Sequence[str]) -> str:
    """A stable shard file name for a batch (same paths -> same name, so a rerun skips it)."""
    h = hashlib.sha1("\n".join(map(str, paths)).encode()).hexdigest()[:16]
    return f"part-{h}.jsonl"


class BatchPredictor:
    """Per-worker predictor: ``BatchPredictor(out_dir, ...)(batch) -> summary``; see the module docstring.

    Keyword arguments are those of `predict.Landmarker` (`refine`, `max_faces`, `min_face_size`,
    `detector`); `weights` None = the shipped starter; `threads` = onnxruntime threads per worker.
    """

    def __init__(self, out_dir: str | Path, weights: str | Path | None = None, root: str | Path | None = None,
                 threads: int | None = 1, **landmarker_kw) -> None:
        from .landmarker import Landmarker

        self.out_dir, self.root = Path(out_dir), (Path(root) if root is not None else None)
        kw = dict(threads=threads, **landmarker_kw)
        self.lm = Landmarker.from_path(weights, **kw) if weights else Landmarker.default(**kw)

    def __call__(self, batch: dict) -> dict:
        paths = [str(p) for p in np.asarray(batch["path"]).tolist()]
        shard = self.out_dir / shard_name(paths)
        if shard.is_file():  # done by an earlier (killed) run
            records = [json.loads(line) for line in shard.read_text().splitlines() if line.strip()]
        else:
            records = predict_paths(self.lm, paths, self.root)
            atomic_write_text(shard, "".join(json.dumps(r) + "\n" for r in records))
        return {"shard": np.array([shard.name]), "images": np.array([len(records)]),
                "faces": np.array([sum(len(r["faces"]) for r in records)]),
                "errors": np.array([sum(1 for r in records if r.get("error"))])}


def read_shards(out_dir: str | Path) -> list[dict]:
    """All records of a folder of shards, sorted by image (the order `pipnet106 predict` writes)."""
    recs = [json.loads(line) for p in sorted(Path(out_dir).glob("part-*.jsonl"))
            for line in p.read_text().splitlines() if line.strip()]
    return sorted(recs, key=lambda r: r["image"])
