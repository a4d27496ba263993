"""Does the model know which points are covered? Occluders pasted on held-out photos, whose masks
say exactly which points they cover, against the model's per-point visibility.

Per region: recall of the covered points (predicted visibility below `threshold` where an
occluder covers the point) and the false-occluded rate (predicted below `threshold` where nothing
covers it). The occluders are the training augmentation's kinds (`data.occluders`: hands, hair,
glasses, masks, phones, boxes, textures cut from other photos), drawn with a seed of their own so
the pasted objects are not the ones the model trained on. What retouch relies on: lipstick is
not painted where the lips are covered (recall) and is not dropped where they are not (false rate).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..constants import OCCLUDER_KINDS as KINDS
from ..data.occluders import occlude
from ..layout import LAPA106

REGIONS = ("contour", "brows", "nose", "eyes", "mouth", "pupils")


def measure_visibility(landmarker, faces: Iterable[tuple[np.ndarray, np.ndarray]], *, seed: int = 12345,
                       kinds: tuple[str, ...] = KINDS, threshold: float = 0.5, per_face: int = 2) -> dict:
    """Recall of covered points and false-occluded rate, per region and overall.

    `faces`: (BGR image, (106, 2) labels in its pixels). Each face gets `per_face` occluded copies.
    The landmarker crops from the labels' box; a model without a visibility output gets None."""
    rng = np.random.default_rng(seed)
    covered, flagged, n = [], [], 0
    for image, labels in faces:
        labels = np.asarray(labels, dtype=np.float64)
        box = np.r_[labels.min(0), labels.max(0)][None]
        for _ in range(per_face):
            img, visible, _ = occlude(image.copy(), labels, rng, kinds, other=image[::-1, ::-1].copy())
            _, _, vis = landmarker.landmarks_for_boxes(img, box, visibility=True)
            if vis is None:
                return {"faces": 0, "error": "the model has no visibility output"}
            covered.append(~visible)
            flagged.append(np.asarray(vis[0]) < threshold)
        n += 1
    return summarise(np.array(covered), np.array(flagged), n, threshold)


def summarise(covered: np.ndarray, flagged: np.ndarray, faces: int, threshold: float) -> dict:
    """(M, N) bool truth (covered) and prediction (flagged) -> rates per region (JSON-ready)."""
    out = {"faces": faces, "copies": int(len(covered)), "threshold": threshold, "regions": {}}
    for name in ("all",) + REGIONS:
        idx = np.arange(covered.shape[1]) if name == "all" else LAPA106.region_index(name)
        c, f = covered[:, idx], flagged[:, idx]
        out["regions"][name] = {
            "covered_points": int(c.sum()),
            "recall": float((c & f).sum() / c.sum()) if c.sum() else float("nan"),
            "false_occluded": float((~c & f).sum() / (~c).sum()) if (~c).sum() else float("nan")}
    return out


def format_visibility(rep: dict) -> str:
    if "error" in rep:
        return f"visibility: {rep['error']}"
    lines = [f"visibility on {rep['copies']} occluded copies of {rep['faces']} faces (below {rep['threshold']} = covered)",
             "  region    covered points   recall   false-occluded"]
    for name, r in rep["regions"].items():
        lines.append(f"  {name:<9} {r['covered_points']:>14}   {r['recall']:6.3f}   {r['false_occluded']:6.3f}")
    return "\n".join(lines)
