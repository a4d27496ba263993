"""Do the points follow the face? Known local changes, applied to photos, measured by re-detection.

For each face: apply a known change with the one-to-one shape field built on its labels (eyes
larger and smaller, eyes opened, mouth wider and more open, lips fuller, brows up, jaw narrower,
and a magnifying lens about each eye, a family training never uses), map the labels through the
warp exactly, re-detect the points on the warped photo, and compare the part's measure (eye area,
mouth width, ...):

    follow = mean(measured change) / mean(true change)

over the faces (1 = the points move with the face, 0 = they stay on the mean shape). The NME of
the warped photos against the mapped labels says whether following cost accuracy. Across the
unchanged faces, `slopes` regress the predicted eye opening, mouth opening and brow height on
the labelled ones (1 = the variation between faces is kept, below 1 = pulled to the mean).

The landmarker crops each face from its labels' box (first pass plus one refinement, as
`predict` does after detection), so the detector plays no part.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable, Iterable

import numpy as np

from ..shape.field import Primitive, apply_field, field_from_primitives
from ..layout import LAPA106
from ..measures import LEFT_EYE_RING, MEASURES, RIGHT_EYE_RING
from ..shape.frame import face_frame
from ..shape.primitives import shape_primitives


# ----------------------------------------------------------------------------- known changes

def _lens_about_eyes(points: np.ndarray, frame, strength: float = 0.35) -> list[Primitive]:
    """A magnifier about each eye (the `lens` profile; no training warp has this shape)."""
    out = []
    for ring in (LEFT_EYE_RING, RIGHT_EYE_RING):
        c = frame.local(points[ring].mean(0)[None])[0]
        r = 1.6 * float(np.hypot(*(points[ring[0]] - points[ring[4]])))
        out.append(Primitive("lens", (float(c[0]), float(c[1])), (r, r), (strength, 0.0)))
    return out


@dataclass(frozen=True)
class Change:
    """One known change: shape values (or a builder of primitives) and the part measure it moves."""

    name: str
    measure: str
    values: dict = field(default_factory=dict)
    build: Callable | None = None
    unseen: bool = False
    """A family training never uses (so a model cannot score by knowing the training warps)."""

    def primitives(self, points: np.ndarray, frame) -> list[Primitive]:
        return self.build(points, frame) if self.build else shape_primitives(points, frame, SimpleNamespace(**self.values))


CHANGES = (
    Change("eyes_larger", "eye_area", {"eye_size": 0.6}),
    Change("eyes_smaller", "eye_area", {"eye_size": -0.6}),
    Change("eyes_opened", "eye_opening", {"eye_height": 0.8}),
    Change("eyes_lens", "eye_area", build=_lens_about_eyes, unseen=True),
    Change("mouth_wider", "mouth_width", {"mouth_width": 0.8}),
    Change("mouth_opened", "mouth_opening", {"mouth_open": 0.8}),
    Change("lips_fuller", "lip_height", {"lip_fullness": 0.8}),
    Change("brows_up", "brow_height", {"brow_lift": 1.0}),
    Change("jaw_narrower", "jaw_width", {"jaw_width": -1.0}),
)
PARTS = {"eyes": ("eyes_larger", "eyes_smaller", "eyes_opened"), "eyes_unseen_warp": ("eyes_lens",),
         "mouth": ("mouth_wider", "mouth_opened", "lips_fuller"), "brows": ("brows_up",), "jaw": ("jaw_narrower",)}
"""How the changes are summarised per part in reports (the follow of a part = of its changes pooled)."""


def warp_face(image: np.ndarray, points: np.ndarray, change: Change) -> tuple[np.ndarray, np.ndarray] | None:
    """(warped image, labels mapped through the warp exactly), or None when nothing moved."""
    frame = face_frame(points, weight=1.0)
    fld = field_from_primitives(change.primitives(points, frame), frame, image.shape)
    if fld is None:
        return None
    return apply_field(image, fld), fld.forward_points(points)


# ----------------------------------------------------------------------------- the measurement

def _iod(p: np.ndarray) -> float:
    return float(LAPA106.norm_distance(p, "outer_eye"))


def _box(points: np.ndarray) -> np.ndarray:
    return np.r_[points.min(0), points.max(0)]


def measure_follow(landmarker, faces: Iterable[tuple[np.ndarray, np.ndarray]],
                   changes: tuple[Change, ...] = CHANGES) -> dict:
    """Follow per change and part, NME on the warped photos, and the across-face slopes.

    `faces`: (BGR image, (106, 2) labels in its pixels), faces fully labelled. `landmarker`: a
    `Landmarker` (any backend). Returns a plain dict (JSON-ready).
    """
    true = {c.name: [] for c in changes}
    got = {c.name: [] for c in changes}
    nme = {c.name: [] for c in changes}
    across = {k: ([], []) for k in ("eye_opening", "mouth_opening", "brow_height")}
    n = 0
    for image, labels in faces:
        labels = np.asarray(labels, dtype=np.float64)
        if labels.shape != (106, 2) or not np.isfinite(labels).all():
            continue
        base = _predict(landmarker, image, labels)
        iod = _iod(labels)
        for k, (lab, pred) in across.items():
            lab.append(MEASURES[k](labels) / iod)
            pred.append(MEASURES[k](base) / iod)
        for c in changes:
            warped = warp_face(image, labels, c)
            if warped is None:
                continue
            img2, lab2 = warped
            p2 = _predict(landmarker, img2, lab2)
            m = MEASURES[c.measure]
            true[c.name].append(m(lab2) - m(labels))
            got[c.name].append(m(p2) - m(base))
            nme[c.name].append(float(np.linalg.norm(p2 - lab2, axis=1).mean() / _iod(lab2)))
        n += 1
    return _summarise(n, changes, true, got, nme, across)


def _predict(landmarker, image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    pts, _ = landmarker.landmarks_for_boxes(image, _box(labels)[None])
    return np.asarray(pts[0], dtype=np.float64)


def _ratio(got: list[float], true: list[float]) -> float:
    t = float(np.sum(true))
    return float(np.sum(got) / t) if abs(t) > 1e-12 else float("nan")


def _slope(lab: list[float], pred: list[float]) -> float:
    x, y = np.asarray(lab), np.asarray(pred)
    if len(x) < 3 or float(np.var(x)) < 1e-12:
        return float("nan")
    return float(np.cov(x, y, bias=True)[0, 1] / np.var(x))


def _summarise(n: int, changes, true: dict, got: dict, nme: dict, across: dict) -> dict:
    per_change = {c.name: {"measure": c.measure, "unseen_warp": c.unseen, "faces": len(true[c.name]),
                           "true_change": float(np.mean(true[c.name])) if true[c.name] else float("nan"),
                           "follow": _ratio(got[c.name], true[c.name]),
                           "nme_warped": float(np.mean(nme[c.name])) if nme[c.name] else float("nan")}
                  for c in changes}
    per_part = {}
    for part, names in PARTS.items():
        names = [k for k in names if k in per_change]
        if names:
            # pooled as the mean of the changes' follows (each change's ratio already pools its faces)
            per_part[part] = float(np.mean([per_change[k]["follow"] for k in names]))
    return {"faces": n, "changes": per_change, "parts": per_part,
            "slopes": {k: _slope(lab, pred) for k, (lab, pred) in across.items()}}


def format_follow(rep: dict) -> str:
    """A short text table of a `measure_follow` report."""
    lines = [f"follow on {rep['faces']} faces (1 = the points move with the face, 0 = they stay put)"]
    for name, c in rep["changes"].items():
        unseen = " (a warp training never uses)" if c["unseen_warp"] else ""
        lines.append(f"  {name:<14} {c['measure']:<14} follow {c['follow']:6.3f}   true change {c['true_change']:8.2f}   "
                     f"NME warped {c['nme_warped'] * 100:5.2f}%{unseen}")
    lines.append("  parts: " + ", ".join(f"{k} {v:.3f}" for k, v in rep["parts"].items()))
    lines.append("  across faces, predicted vs labelled (slope): "
                 + ", ".join(f"{k} {v:.3f}" for k, v in rep["slopes"].items()))
    return "\n".join(lines)


def prepared_faces(data_dir, list_name: str = "test.txt", limit: int | None = None, seed: int = 0):
    """(image, labels in its pixels) of a prepared folder's list: fully labelled lapa106 faces, up to
    `limit` of them (a seeded choice), read one at a time."""
    from pathlib import Path

    from ..data.dataset import list_path
    from ..data.formats import read_list
    from ..fileio import read_image

    root = Path(data_dir)
    entries = [(n, p) for n, p in read_list(list_path(root, list_name), 106) if np.isfinite(p).all()]
    if limit is not None and len(entries) > limit:
        pick = np.sort(np.random.default_rng(seed).choice(len(entries), limit, replace=False))
        entries = [entries[i] for i in pick]
    for name, pts in entries:
        image = read_image(root / name, exif=False)
        yield image, pts * np.array([image.shape[1], image.shape[0]])
