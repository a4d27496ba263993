"""Labels in another layout: 300-W's 68 points as partial 106-point labels.

Public human labels mostly come in the iBUG 300-W 68-point order. Where a 68 point means the same
as a 106 point, it becomes that point's label; every other 106 point is left unlabelled (NaN: the
training loss masks it, the mean face and the neighbour heads of a fine-tuned model come from the
model it starts from). Which points mean the same was measured, not assumed:
`benchmarks/ibug68_correspondence.py` runs the starter on 667 faces with 300-W labels and finds,
for each 68 point, the nearest 106 point on median (`benchmarks/results/ibug68_correspondence.json`,
table in docs/model-card.md):

- mouth 48-67 -> 84-103, one to one (2.7-5.0% of the outer-eye distance apart);
- nose 27-30 -> 51-54 (bridge), 31-35 -> 58-62 (lower edge) (2.9-4.9%);
- eye corners 36, 39, 42, 45 -> 66, 70, 75, 79 (2.8-4.5%);
- eyelids: 300-W has two points per lid, the 106 layout three (at 0.30, 0.51, 0.71 of the way
  from the outer to the inner corner on the upper lid and 0.31, 0.49, 0.68 on the lower one, on
  the starter's mean face). Each lid is re-sampled there: a cubic through the two corners and
  the two labelled lid points, in the eye's own frame. So the lid middles, which eye opening and
  blink detection read, get a human label too.

Left unlabelled: the contour (the 68 jaw is spaced differently along the face edge and ends lower,
5-10% apart), the brows (a single line in 300-W, an outline in the 106 layout), the eye centres
74/83 and the pupils 104/105 (not in 300-W).

The face crop is made from the 68 points' box moved and scaled to where the 106 box lies
(`IBUG68_BOX_TO_LAPA106`, measured on the same faces), so the photos are cropped as the model's
own training crops are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..crop import calibrated_box, points_box
from ..errors import UserError
from ..layout import get_layout

# where along each lid (outer corner 0 -> inner corner 1) the 106 layout puts its three points,
# measured on the starter's mean face (left and right eye averaged)
UPPER_LID_AT = (0.30, 0.51, 0.71)
LOWER_LID_AT = (0.31, 0.49, 0.68)

IBUG68_DIRECT = {**{84 + i: 48 + i for i in range(20)},              # mouth, outer 84-95 and inner 96-103
                 **{51 + i: 27 + i for i in range(4)},               # nose bridge
                 **{58 + i: 31 + i for i in range(5)},               # nose lower edge
                 66: 36, 70: 39, 75: 42, 79: 45}                     # eye corners
"""106 index -> 68 index for the points that mean the same."""

# per eye: (outer, inner, upper lid near outer, near inner, lower lid near outer, near inner) in the
# 68 order, and the 106 points of its upper and lower lid, outer to inner
IBUG68_EYES = (((36, 39, 37, 38, 41, 40), (67, 68, 69), (73, 72, 71)),
               ((45, 42, 44, 43, 46, 47), (78, 77, 76), (80, 81, 82)))

IBUG68_BOX_TO_LAPA106 = (-0.003, -0.011, 0.981, 0.993)
"""`crop.calibrated_box` calibration (dx, dy, sw, sh) from the box of 68 labels to the box of the
106 points on the same face (benchmarks/results/ibug68_correspondence.json, `box_calibration`)."""


def resample_lid(outer: np.ndarray, inner: np.ndarray, near_outer: np.ndarray, near_inner: np.ndarray,
                 at: tuple[float, ...]) -> np.ndarray:
    """Points at fractions `at` of the way from the outer to the inner eye corner along the lid
    through the two labelled lid points: a cubic in the eye's frame (u along the corners, v across),
    or straight segments when the labelled points are out of order or bunched up."""
    axis = inner - outer
    length2 = float(axis @ axis)
    if length2 <= 0:
        return np.full((len(at), 2), np.nan)
    normal = np.array([-axis[1], axis[0]])
    nodes = np.stack([outer, near_outer, near_inner, inner]) - outer
    u, v = nodes @ axis / length2, nodes @ normal / length2
    t = np.asarray(at, dtype=np.float64)
    if np.all(np.diff(u) > 0.1):
        vt = np.zeros_like(t)
        for i in range(4):   # Lagrange form of the cubic through the four nodes
            w = np.ones_like(t)
            for j in range(4):
                if j != i:
                    w *= (t - u[j]) / (u[i] - u[j])
            vt += w * v[i]
    else:
        vt = np.interp(t, np.maximum.accumulate(u), v)
    return outer + t[:, None] * axis + vt[:, None] * normal


def ibug68_to_lapa106(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(68, 2) 300-W points -> (106, 2) with NaN rows where no 68 point means the same, and the
    box (x0, y0, x1, y1) where the 106 points would lie (for the face crop)."""
    p = np.asarray(points, dtype=np.float64)
    out = np.full((106, 2), np.nan)
    for dst, src in IBUG68_DIRECT.items():
        out[dst] = p[src]
    for (outer, inner, uo, ui, lo, li), upper, lower in IBUG68_EYES:
        out[list(upper)] = resample_lid(p[outer], p[inner], p[uo], p[ui], UPPER_LID_AT)
        out[list(lower)] = resample_lid(p[outer], p[inner], p[lo], p[li], LOWER_LID_AT)
    return out, calibrated_box(points_box(p), IBUG68_BOX_TO_LAPA106)


@dataclass(frozen=True)
class Conversion:
    """Labels of layout `src` turned into (partial) labels of layout `dst`, with their crop box."""

    src: str
    dst: str
    fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

    @property
    def src_points(self) -> int:
        return get_layout(self.src).num_points

    def __call__(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.fn(points)


CONVERSIONS = {("ibug68", "lapa106"): Conversion("ibug68", "lapa106", ibug68_to_lapa106)}


def get_conversion(src: str, dst: str) -> Conversion | None:
    """The conversion from labels in layout `src` to layout `dst` (None when they are the same);
    one-line UserError when there is none."""
    try:
        s, d = get_layout(src).name, get_layout(dst).name
    except ValueError as e:
        raise UserError(str(e)) from None
    if s == d:
        return None
    if (s, d) not in CONVERSIONS:
        known = ", ".join(f"{a} -> {b}" for a, b in CONVERSIONS)
        raise UserError(f"no conversion from {s} labels to {d}; known: {known}")
    return CONVERSIONS[(s, d)]
