"""Point layouts: how many points, what they mean, how they mirror.

A `Layout` is data, not code: every script that needs "which points are the
eyes" or "what does point 66 become after a horizontal flip" asks the layout,
so no dataset-specific branch is ever written twice.

Left/right are as seen in the image.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Layout:
    name: str
    num_points: int
    flip: tuple[int, ...]
    """After mirroring x, point i takes the label of point flip[i]."""
    regions: dict[str, tuple[int, ...]]
    """Fine regions, e.g. 'left_eye'. Used for drawing colours and `Face.region`."""
    groups: dict[str, tuple[str, ...]]
    """Coarse regions reported by evaluation (contour, brows, nose, eyes, mouth, pupils)."""
    norm_pairs: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    """Named normalization distances: distance between the means of two point sets."""
    default_norm: str = "outer_eye"
    landmarks: dict[str, int] = field(default_factory=dict)
    """Named single points (image-view left/right), e.g. 'chin', 'left_eye_outer': what effects
    and checks anchor on, read from here rather than written as numbers elsewhere."""

    def __post_init__(self) -> None:
        flip = np.asarray(self.flip)
        if len(flip) != self.num_points or sorted(flip.tolist()) != list(range(self.num_points)):
            raise ValueError(f"layout {self.name}: flip map is not a permutation of {self.num_points} points")
        if not np.array_equal(flip[flip], np.arange(self.num_points)):
            raise ValueError(f"layout {self.name}: flip map is not an involution")
        covered = sorted(i for idx in self.regions.values() for i in idx)
        if covered != list(range(self.num_points)):
            raise ValueError(f"layout {self.name}: regions do not cover every point exactly once")

    @property
    def flip_index(self) -> np.ndarray:
        return np.asarray(self.flip, dtype=np.int64)

    def region_index(self, name: str) -> np.ndarray:
        """Indices of a fine region or a coarse group."""
        if name in self.regions:
            return np.asarray(self.regions[name], dtype=np.int64)
        if name in self.groups:
            return np.concatenate([self.regions[r] for r in self.groups[name]]).astype(np.int64)
        known = ", ".join(list(self.regions) + list(self.groups))
        raise KeyError(f"layout {self.name} has no region {name!r}; known: {known}")

    def region_of(self) -> list[str]:
        """Fine region name of every point, in point order."""
        out = [""] * self.num_points
        for name, idx in self.regions.items():
            for i in idx:
                out[i] = name
        return out

    def mirror_points(self, points: np.ndarray, width: float) -> np.ndarray:
        """Horizontally mirror (N, 2) pixel points in an image of `width` and swap labels.

        Continuous pixel coordinates (pixel i covers [i, i+1)): x -> width - x,
        which is exactly what cv2.flip does to the image. For normalized points pass width=1.
        """
        out = np.asarray(points, dtype=np.float64).copy()
        out[..., 0] = width - out[..., 0]
        return out[..., self.flip_index, :]

    def norm_distance(self, points: np.ndarray, norm: str | None = None) -> np.ndarray:
        """Normalization distance for (..., N, 2) points.

        'bbox' is sqrt(w*h) of the landmark box (JD-landmark convention); other names
        come from `norm_pairs` (e.g. outer eye corners, pupils).
        """
        norm = norm or self.default_norm
        pts = np.asarray(points, dtype=np.float64)
        if norm == "bbox":
            wh = pts.max(axis=-2) - pts.min(axis=-2)
            return np.sqrt(np.clip(wh[..., 0] * wh[..., 1], 0.0, None))
        if norm not in self.norm_pairs:
            known = ", ".join(list(self.norm_pairs) + ["bbox"])
            raise ValueError(f"layout {self.name} has no normalization {norm!r}; known: {known}")
        a, b = self.norm_pairs[norm]
        # a one-point side is that point (its mean, without the copies: trackers call this every frame)
        pa = pts[..., a[0], :] if len(a) == 1 else pts[..., list(a), :].mean(axis=-2)
        pb = pts[..., b[0], :] if len(b) == 1 else pts[..., list(b), :].mean(axis=-2)
        return np.linalg.norm(pa - pb, axis=-1)

    def to_dict(self) -> dict:
        return {"name": self.name, "num_points": self.num_points}


def _r(a: int, b: int) -> tuple[int, ...]:
    """Inclusive integer range."""
    return tuple(range(a, b + 1))


LAPA106_FLIP = (
    32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    46, 45, 44, 43, 42, 50, 49, 48, 47, 37, 36, 35, 34, 33, 41, 40, 39, 38,
    51, 52, 53, 54, 65, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55,
    79, 78, 77, 76, 75, 82, 81, 80, 83, 70, 69, 68, 67, 66, 73, 72, 71, 74,
    90, 89, 88, 87, 86, 85, 84, 95, 94, 93, 92, 91, 100, 99, 98, 97, 96, 103, 102, 101, 105, 104,
)

LAPA106 = Layout(
    name="lapa106",
    num_points=106,
    flip=LAPA106_FLIP,
    regions={
        "contour": _r(0, 32),
        "left_brow": _r(33, 41),
        "right_brow": _r(42, 50),
        "nose_bridge": _r(51, 54),
        "nose_lower": _r(55, 65),
        "left_eye": _r(66, 74),
        "right_eye": _r(75, 83),
        "mouth_outer": _r(84, 95),
        "mouth_inner": _r(96, 103),
        "left_pupil": (104,),
        "right_pupil": (105,),
    },
    groups={
        "contour": ("contour",),
        "brows": ("left_brow", "right_brow"),
        "nose": ("nose_bridge", "nose_lower"),
        "eyes": ("left_eye", "right_eye"),
        "mouth": ("mouth_outer", "mouth_inner"),
        "pupils": ("left_pupil", "right_pupil"),
    },
    norm_pairs={"outer_eye": ((66,), (79,)), "pupil": ((104,), (105,))},
    landmarks={"chin": 16, "left_eye_outer": 66, "left_eye_inner": 70, "left_eye_centre": 74,
               "right_eye_inner": 75, "right_eye_outer": 79, "right_eye_centre": 83,
               "nose_tip": 54, "subnasale": 60, "mouth_left": 84, "mouth_right": 90,
               "left_pupil": 104, "right_pupil": 105,
               # middles of the lids, lips and brows' upper edges, and the jaw at mouth height:
               # what the openness and follow measures read (`measures`)
               "left_upper_lid": 68, "left_lower_lid": 72, "right_upper_lid": 77, "right_lower_lid": 81,
               "upper_lip_top": 87, "lower_lip_bottom": 93, "inner_lip_top": 98, "inner_lip_bottom": 102,
               "left_brow_top": 35, "right_brow_top": 44, "left_jaw": 6, "right_jaw": 26},
)


def _pairs_to_flip(n: int, pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    flip = list(range(n))
    for a, b in pairs:
        flip[a], flip[b] = b, a
    return tuple(flip)


# iBUG 300W 68-point order.
IBUG68 = Layout(
    name="ibug68",
    num_points=68,
    flip=_pairs_to_flip(68, [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)]
                        + [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
                           (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]),
    regions={
        "contour": _r(0, 16),
        "left_brow": _r(17, 21),
        "right_brow": _r(22, 26),
        "nose_bridge": _r(27, 30),
        "nose_lower": _r(31, 35),
        "left_eye": _r(36, 41),
        "right_eye": _r(42, 47),
        "mouth_outer": _r(48, 59),
        "mouth_inner": _r(60, 67),
    },
    groups={
        "contour": ("contour",),
        "brows": ("left_brow", "right_brow"),
        "nose": ("nose_bridge", "nose_lower"),
        "eyes": ("left_eye", "right_eye"),
        "mouth": ("mouth_outer", "mouth_inner"),
    },
    norm_pairs={"outer_eye": ((36,), (45,)), "pupil": (_r(36, 41), _r(42, 47))},
)

# WFLW 98-point order.
WFLW98 = Layout(
    name="wflw98",
    num_points=98,
    flip=_pairs_to_flip(98, [(i, 32 - i) for i in range(16)]
                        + [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49), (40, 48), (41, 47),
                           (55, 59), (56, 58),
                           (60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73),
                           (76, 82), (77, 81), (78, 80), (83, 87), (84, 86), (88, 92), (89, 91), (93, 95), (96, 97)]),
    regions={
        "contour": _r(0, 32),
        "left_brow": _r(33, 41),
        "right_brow": _r(42, 50),
        "nose_bridge": _r(51, 54),
        "nose_lower": _r(55, 59),
        "left_eye": _r(60, 67),
        "right_eye": _r(68, 75),
        "mouth_outer": _r(76, 87),
        "mouth_inner": _r(88, 95),
        "left_pupil": (96,),
        "right_pupil": (97,),
    },
    groups={
        "contour": ("contour",),
        "brows": ("left_brow", "right_brow"),
        "nose": ("nose_bridge", "nose_lower"),
        "eyes": ("left_eye", "right_eye"),
        "mouth": ("mouth_outer", "mouth_inner"),
        "pupils": ("left_pupil", "right_pupil"),
    },
    norm_pairs={"outer_eye": ((60,), (72,)), "pupil": ((96,), (97,))},
)

# Parts of the 106 layout, for the local stage (`data.parts`): an eye (the image-left eye's ring, centre and
# pupil; a right eye is mirrored into a left one, so no flip augmentation: identity flip map) and the mouth.
LAPA106_EYE = Layout(
    name="lapa106_eye",
    num_points=10,
    flip=tuple(range(10)),
    regions={"eye": _r(0, 8), "pupil": (9,)},
    groups={"eyes": ("eye",), "pupils": ("pupil",)},
    norm_pairs={"eye_width": ((0,), (4,))},
    default_norm="eye_width",
)
LAPA106_MOUTH = Layout(
    name="lapa106_mouth",
    num_points=20,
    flip=tuple(LAPA106_FLIP[i] - 84 for i in range(84, 104)),
    regions={"mouth_outer": _r(0, 11), "mouth_inner": _r(12, 19)},
    groups={"mouth": ("mouth_outer", "mouth_inner")},
    norm_pairs={"mouth_width": ((0,), (6,))},
    default_norm="mouth_width",
)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (LAPA106, IBUG68, WFLW98, LAPA106_EYE, LAPA106_MOUTH)}


@dataclass(frozen=True)
class PartSpec:
    """One part: which face points it refines, its layout, its crop and input size."""

    name: str
    points: tuple[int, ...]
    """Indices into the face's 106 points, in the part layout's order."""
    layout: Layout
    mirrored: bool
    """Whether the part also occurs mirrored (the right eye, refined as a mirrored left eye)."""
    enlarge: float
    """Crop side / long side of the part points' box (default of `crop_enlarge` for part models)."""
    size: int
    """Default input size."""

    def instances(self) -> tuple[tuple[tuple[int, ...], bool], ...]:
        """(face point indices in part order, mirrored?) for each occurrence on a face."""
        if not self.mirrored:
            return ((self.points, False),)
        flip = np.asarray(LAPA106.flip)
        return ((self.points, False), (tuple(int(i) for i in flip[list(self.points)]), True))


PARTS: dict[str, PartSpec] = {
    "eye": PartSpec("eye", (*range(66, 75), 104), LAPA106_EYE, True, 1.8, 48),
    "mouth": PartSpec("mouth", tuple(range(84, 104)), LAPA106_MOUTH, False, 1.4, 64),
}


def part_spec(name: str) -> PartSpec:
    if name not in PARTS:
        raise ValueError(f"unknown part {name!r}; known: {', '.join(PARTS)}")
    return PARTS[name]


def part_of_layout(layout: Layout) -> PartSpec | None:
    """The part a layout describes (a part model's layout), None for whole-face layouts."""
    return next((s for s in PARTS.values() if s.layout.name == layout.name), None)

_ALIASES = {"106": "lapa106", "jd106": "lapa106", "lapa": "lapa106", "68": "ibug68", "300w": "ibug68",
            "98": "wflw98", "wflw": "wflw98"}


def get_layout(name: str | int) -> Layout:
    """Look a layout up by name ('lapa106', 'ibug68', 'wflw98') or alias ('106', 68, 'wflw')."""
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")
    return LAYOUTS[key]
