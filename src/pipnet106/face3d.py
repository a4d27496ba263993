"""The canonical 3-D face of the 106-point layout, written for this project.

One definition serves two users: `synth.faces` renders faces from it (so their points are exact)
and `infer.pose` solves head pose against it. Template units: x 0..1 across the face, y down,
z toward the viewer from the ear plane (z = 0).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .layout import LAPA106, get_layout


def face_z(x: float) -> float:
    """Depth of the frontal face surface at template x (a cylinder-like head)."""
    return 0.36 * math.sqrt(max(0.0, 1.0 - ((x - 0.5) / 0.45) ** 2))


@functools.lru_cache(maxsize=1)
def template3d() -> np.ndarray:
    """(106, 3) x, y, z. Only the image-left half and the axis are written; the rest is mirrored
    through the flip map, so symmetry holds by construction."""
    P = np.full((106, 3), np.nan)
    # contour 0..16: left ear top down to the chin (superellipse jaw)
    for i in range(17):
        th = math.pi - i * math.pi / 32
        c, s = abs(math.cos(th)), math.sin(th)
        P[i] = (0.5 - 0.40 * c ** 0.83, 0.36 + 0.59 * s ** 0.83, 0.12 + 0.28 * s ** 0.8)
    # brow A: 33-37 upper edge outer -> inner, 38-41 lower edge inner -> outer (a closed loop)
    brow = [(0.17, 0.310), (0.23, 0.275), (0.30, 0.265), (0.37, 0.270), (0.43, 0.285),
            (0.43, 0.315), (0.36, 0.300), (0.29, 0.297), (0.22, 0.310)]
    for k, (x, y) in enumerate(brow):
        P[33 + k] = (x, y, face_z(x) + 0.01)
    # nose bridge 51-54 top -> tip
    for k, (y, z) in enumerate([(0.42, 0.38), (0.485, 0.42), (0.555, 0.46), (0.615, 0.50)]):
        P[51 + k] = (0.5, y, z)
    # nose lower 55-60: left wing top -> nostril bottom -> subnasale (60 on the axis)
    for k, (x, y, z) in enumerate([(0.440, 0.540, 0.40), (0.410, 0.595, 0.39), (0.400, 0.635, 0.38),
                                   (0.430, 0.665, 0.41), (0.465, 0.673, 0.43), (0.5, 0.678, 0.45)]):
        P[55 + k] = (x, y, z)
    # eye A: 66 outer corner, 67-69 upper lid, 70 inner corner, 71-73 lower lid; 74 centre
    eye = [(0.22, 0.420), (0.26, 0.395), (0.305, 0.385), (0.35, 0.393),
           (0.39, 0.425), (0.35, 0.440), (0.305, 0.447), (0.26, 0.442)]
    for k, (x, y) in enumerate(eye):
        P[66 + k] = (x, y, face_z(x) - 0.06)
    P[74] = (0.305, (0.385 + 0.447) / 2, face_z(0.305) - 0.05)
    P[104] = P[74]
    # mouth outer: 84 left corner, 85-86 upper left, 87 top centre; 93 bottom centre, 94-95 lower left
    for i, (x, y) in {84: (0.355, 0.770), 85: (0.41, 0.743), 86: (0.45, 0.728), 87: (0.5, 0.738),
                      93: (0.5, 0.835), 94: (0.45, 0.828), 95: (0.41, 0.815)}.items():
        P[i] = (x, y, face_z(x) + 0.02)
    # mouth inner: 96 left corner, 97 upper left, 98 top centre, 102 bottom centre, 103 lower left
    for i, (x, y) in {96: (0.388, 0.776), 97: (0.44, 0.764), 98: (0.5, 0.768),
                      102: (0.5, 0.790), 103: (0.44, 0.788)}.items():
        P[i] = (x, y, face_z(x) + 0.01)

    flip = LAPA106.flip
    for i in range(106):
        if flip[i] == i and not np.isnan(P[i, 0]):
            P[i, 0] = 0.5
    for i in range(106):
        j = flip[i]
        if j != i and not np.isnan(P[i, 0]):
            P[j] = (1.0 - P[i, 0], P[i, 1], P[i, 2])
    assert not np.isnan(P).any(), "synth template incomplete"
    P.setflags(write=False)
    return P


def template(layout: str = "lapa106") -> np.ndarray:
    """(106, 2) canonical frontal face in unit coordinates, symmetric under the flip map.

    Landmarks span about x 0.1..0.9, y 0.27..0.95 (the forehead drawn above reaches y ~0.02).
    """
    lay = get_layout(layout)
    if lay.name != "lapa106":
        raise ValueError(f"synthetic template exists only for layout lapa106, not {lay.name}")
    return np.array(template3d()[:, :2], dtype=np.float64)
