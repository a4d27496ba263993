"""The primitives of each named shape change, built from a face's points in its own frame.

Every change takes a value in [-1, 1] (0 = no change; the sign rule of `SHAPE_CHANGES`) and
sizes in units of the face's scale, so a value does the same thing on a 300 px and a 3000 px
face. `shape_primitives(points, frame, values)` reads the values as attributes of any object
(`retouch.Adjustments`, or the random draws of the shape augmentation).
"""
from __future__ import annotations

import numpy as np

from .field import Primitive, _falloff
from .frame import (CHIN, CONTOUR, LEFT_BROW, LEFT_EYE, LEFT_INNER, LEFT_OUTER, MOUTH_LEFT, MOUTH_OUTER, MOUTH_RIGHT,
                    NOSE_AXIS, NOSE_LOWER, NOSE_TIP, RIGHT_BROW, RIGHT_EYE, RIGHT_INNER, RIGHT_OUTER, FaceFrame)


# Sizes at value 1, in units of the face scale (moves) or as relative scale (scales).
SLIM_PULL = 0.13      # contour below the eyes moves this fraction of its distance to the axis


JAW_PUSH = 0.13


CHIN_MOVE = 0.08


EYE_SCALE = 0.30


EYE_RADIUS = 1.15    # eye_size radius in eye widths (outer to inner corner)


EYE_MOVE = 0.05


NOSE_SCALE = 0.22


NOSE_MOVE = 0.07


LIP_SCALE = 0.25


MOUTH_SCALE = 0.15


BROW_MOVE = 0.05


def _smooth_ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _contour_moves(L: np.ndarray, idx: np.ndarray, moves: np.ndarray, radius: float) -> list[Primitive]:
    """Many overlapping moves along the contour, normalized so the contour itself moves by `moves`."""
    c = L[idx]
    d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1) / radius ** 2
    overlap = float(np.median(_falloff(d2).sum(1)))
    return [Primitive("move", (float(p[0]), float(p[1])), (radius, radius), (float(m[0] / overlap), float(m[1] / overlap)))
            for p, m in zip(c, moves) if abs(m[0]) + abs(m[1]) > 1e-9]


def shape_primitives(points: np.ndarray, frame: FaceFrame, adj) -> list[Primitive]:
    """The primitives of every non-zero shape value of one face (values already faded by `frame.weight`)."""
    L = frame.local(points)
    s = frame.scale
    w = frame.weight
    prims: list[Primitive] = []
    a_axis = float(L[NOSE_AXIS, 0].mean())

    v = adj.face_slim * w
    if v:
        idx = CONTOUR[2:31]
        below = _smooth_ramp(L[idx, 1], 0.05 * s, 0.45 * s)        # nothing at eye level, full below the nose
        m = np.zeros((len(idx), 2))
        m[:, 0] = -v * SLIM_PULL * (L[idx, 0] - a_axis) * below
        prims += _contour_moves(L, idx, m, 0.4 * s)
    v = adj.jaw_width * w
    if v:
        idx = CONTOUR[4:29]
        low = _smooth_ramp(L[idx, 1], 0.4 * s, 0.8 * s)
        m = np.zeros((len(idx), 2))
        m[:, 0] = v * JAW_PUSH * (L[idx, 0] - a_axis) * low
        prims += _contour_moves(L, idx, m, 0.35 * s)
    v = adj.chin_length * w
    if v:
        c = L[CHIN]
        prims.append(Primitive("move", (float(c[0]), float(c[1])), (0.45 * s, 0.4 * s), (0.0, v * CHIN_MOVE * s)))

    eyes = [(LEFT_EYE, LEFT_OUTER, LEFT_INNER, -1.0), (RIGHT_EYE, RIGHT_OUTER, RIGHT_INNER, 1.0)]
    for value, kind in ((adj.eye_size * w, "size"), (adj.eye_distance * w, "distance")):
        if not value:
            continue
        for ring, outer, inner, side in eyes:
            c = L[ring].mean(0)
            ew = float(np.hypot(*(L[outer] - L[inner])))   # eye width, corner to corner
            ew = max(ew, 0.15 * s)
            if kind == "size":
                k = value * EYE_SCALE
                prims.append(Primitive("scale", (float(c[0]), float(c[1])), (EYE_RADIUS * ew, EYE_RADIUS * ew), (k, k)))
            else:
                prims.append(Primitive("move", (float(c[0]), float(c[1])), (1.4 * ew, 1.0 * ew),
                                       (side * value * EYE_MOVE * s, 0.0)))

    nose = L[NOSE_LOWER]
    nw = max(float(np.ptp(nose[:, 0])), 0.15 * s)
    v = adj.nose_width * w
    if v:
        c = nose.mean(0)
        prims.append(Primitive("scale", (float(c[0]), float(c[1])), (1.2 * nw, 0.25 * s), (v * NOSE_SCALE, 0.0)))
    v = adj.nose_length * w
    if v:
        c = 0.5 * (L[NOSE_TIP] + nose.mean(0))      # between the tip and the wings
        prims.append(Primitive("move", (float(c[0]), float(c[1])), (1.0 * nw, 0.3 * s), (0.0, v * NOSE_MOVE * s)))

    mouth = L[MOUTH_OUTER]
    c = mouth.mean(0)
    mw = max(float(np.hypot(*(L[MOUTH_RIGHT] - L[MOUTH_LEFT]))), 0.2 * s)
    mh = float(np.ptp(mouth[:, 1]))
    v = adj.lip_fullness * w
    if v:
        prims.append(Primitive("scale", (float(c[0]), float(c[1])), (0.75 * mw, max(1.5 * mh, 0.25 * s)),
                               (0.0, v * LIP_SCALE)))
    v = adj.mouth_width * w
    if v:
        prims.append(Primitive("scale", (float(c[0]), float(c[1])), (0.9 * mw, max(1.2 * mh, 0.22 * s)),
                               (v * MOUTH_SCALE, 0.0)))
    v = adj.brow_lift * w
    if v:
        for brow in (LEFT_BROW, RIGHT_BROW):
            c = L[brow].mean(0)
            bl = max(float(np.ptp(L[brow, 0])), 0.2 * s)
            prims.append(Primitive("move", (float(c[0]), float(c[1])), (0.75 * bl, 0.25 * s),
                                   (0.0, -v * BROW_MOVE * s)))
    return prims
