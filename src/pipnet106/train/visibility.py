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

from ..constants import OCCLUDER_KINDS as KINDS, VISIBLE_MIN
from ..data.occluders import occlude
from ..layout import LAPA106

REGIONS = ("contour", "brows", "nose", "eyes", "mouth", "pupils")


def measure_visibility(landmarker, faces: Iterable[tuple[np.ndarray, np.ndarray]], *, seed: int = 12345,
                       kinds: tuple[str, ...] = KINDS, threshold: float = VISIBLE_MIN, per_face: int = 2) -> dict:
    """Recall of covered points and false-occluded rate, per region and overall, plus the ROC AUC
    (threshold-free: how well visibility ranks covered below uncovered points).

    `faces`: (BGR image, (106, 2) labels in its pixels). Each face gets `per_face` occluded copies.
    The landmarker crops from the labels' box; a model without a visibility output gets an error."""
    covered, scores, n = visibility_scores(landmarker, faces, seed=seed, kinds=kinds, per_face=per_face)
    if covered is None:
        return {"faces": 0, "error": "the model has no visibility output"}
    out = summarise(covered, scores < threshold, n, threshold)
    out["auc"] = roc_auc(covered.ravel(), -scores.ravel())
    return out


def visibility_scores(landmarker, faces: Iterable[tuple[np.ndarray, np.ndarray]], *, seed: int = 12345,
                      kinds: tuple[str, ...] = KINDS, per_face: int = 2
                      ) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    """(M, N) covered truth and predicted visibility of `per_face` occluded copies of each face, and
    the number of faces; (None, None, 0) for a model without a visibility output."""
    rng = np.random.default_rng(seed)
    covered, scores, n = [], [], 0
    for image, labels in faces:
        labels = np.asarray(labels, dtype=np.float64)
        box = np.r_[labels.min(0), labels.max(0)][None]
        for _ in range(per_face):
            img, visible, _ = occlude(image.copy(), labels, rng, kinds, other=image[::-1, ::-1].copy())
            _, _, vis = landmarker.landmarks_for_boxes(img, box, visibility=True)
            if vis is None:
                return None, None, 0
            covered.append(~visible)
            scores.append(np.asarray(vis[0], dtype=np.float64))
        n += 1
    return np.array(covered), np.array(scores), n


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative
    (ties count half), by the rank-sum formula."""
    positive = np.asarray(positive, dtype=bool)
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if not n1 or not n0:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(score, dtype=np.float64), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]   # 1-based, ties get their mean rank
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def logit_shift(covered: np.ndarray, scores: np.ndarray, false_rate: float) -> float:
    """The shift to add to every visibility logit so that `false_rate` of the uncovered points fall
    below `VISIBLE_MIN` (the package's covered/uncovered line): a one-number calibration of a trained
    head, measured on occluded copies of training faces, never on the faces it is then evaluated on."""
    def logit(p):
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return np.log(p / (1 - p))

    uncovered = np.asarray(scores, dtype=np.float64)[~np.asarray(covered, dtype=bool)]
    return float(logit(VISIBLE_MIN) - np.quantile(logit(uncovered), false_rate))


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
    if "auc" in rep:
        lines.append(f"  ROC AUC (covered vs uncovered, any threshold): {rep['auc']:.3f}")
    return "\n".join(lines)
