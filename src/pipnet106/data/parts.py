"""The local stage's data: crops of one part (an eye, the mouth) cut from prepared faces.

A part model refines the points of one part at a finer pixel density than the face model sees
them (the top-down idea applied once more). Its crop follows the same rule as a face's, square
around the part's points times `enlarge` (`crop.crop_from_points`), so training cuts it from the
labels and inference from the face model's points. Eyes share one model: a right eye is mirrored
into a left one (its points listed in the left eye's order through the flip map), which doubles
the data and halves the weights.

Training cuts the parts from a prepared folder of faces (`prepare --crop face`, best at twice the
face model's input size): the face's shape augmentation runs first on the whole face (so an eye
grows while the face around it stays), then the part is cut and gets the usual augmentation
(whose random shift, scale and rotation stand for the face model's errors in placing the crop).
With `part_box_lag` the crop box is cut from the labels part of the way back to where they were
before the shape change, as the face model's points (which follow a fifth of such a change) place
it at inference: a box that always fits the changed eye lets the model learn the eye's size from
the crop instead of reading it from the photo (docs/model-card.md, "The crop box that lags the change").
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import Config
from ..crop import crop_from_points
from ..errors import UserError
from ..fileio import read_image
from ..layout import LAPA106, Layout, PartSpec, part_spec
from .augment import Augmenter
from .dataset import list_path, to_input
from .formats import read_list
from .targets import encode


def mirror_crop(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[:, ::-1])


def mirror_points(points: np.ndarray, size: int) -> np.ndarray:
    """Crop points of a mirrored crop <-> the unmirrored crop (continuous coordinates: x -> size - x)."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 0] = size - out[..., 0]
    return out


def part_meanface(entries: list[tuple[str, np.ndarray]], spec: PartSpec, size: int, enlarge: float) -> np.ndarray:
    """Mean part shape in normalized crop coordinates over every occurrence in `entries` (labels
    only, no images): what the part model's neighbour table is built on."""
    shapes = []
    for _, pts in entries:
        if not np.isfinite(pts).all():
            continue
        face = pts * 1000.0
        for idx, mirrored in spec.instances():
            p = face[list(idx)]
            t = crop_from_points(p, size, enlarge)
            q = t.to_crop(p)
            shapes.append((mirror_points(q, size) if mirrored else q) / size)
    if not shapes:
        raise UserError(f"no fully labelled face to build the {spec.name} mean shape from")
    return np.mean(shapes, axis=0)


class PartDataset(Dataset):
    """Samples of one part cut from a prepared folder of lapa106 faces, as (image tensor, target dict)."""

    def __init__(self, data_dir, list_name: str, cfg: Config, spec: PartSpec, nb: np.ndarray, train: bool) -> None:
        from pathlib import Path

        self.root = Path(data_dir)
        path = list_path(self.root, list_name)
        if not path.is_file():
            raise UserError(f"{path}: list file not found (run `pipnet106 prepare --crop face` first?)")
        self.entries = [(n, p) for n, p in read_list(path, LAPA106.num_points)]
        if not self.entries:
            raise UserError(f"{path}: list file has no samples")
        self.cfg, self.spec, self.nb, self.train = cfg, spec, np.asarray(nb), train
        self.enlarge = float(cfg.crop_enlarge or spec.enlarge)
        self.grid = cfg.input_size // cfg.net_stride
        self.face_aug = Augmenter(cfg, LAPA106) if train else None
        self.augment = Augmenter(cfg, spec.layout) if train else None
        self.layout = spec.layout
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries) * len(self.spec.instances())

    def load(self, k: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop (S, S, 3) of occurrence `k`, its points in crop pixels (part order), validity."""
        j, which = divmod(k, len(self.spec.instances()))
        name, pts = self.entries[j]
        image = read_image(self.root / name, exif=False)
        mask = np.isfinite(pts).all(axis=1)
        full = np.where(mask[:, None], pts, 0.0) * np.array([image.shape[1], image.shape[0]])
        idx, mirrored = self.spec.instances()[which]
        before = full[list(idx)]
        if rng is not None and self.face_aug is not None and self.face_aug.shape_prob:
            image, full, _ = self.face_aug.reshape(image, full, mask, rng)
        p, m = full[list(idx)], mask[list(idx)]
        if not m.any():
            raise UserError(f"{self.root / name}: no labelled {self.spec.name} point")
        lag = rng.uniform(0.0, self.cfg.part_box_lag) if rng is not None and self.cfg.part_box_lag > 0 else 0.0
        size = self.cfg.input_size
        t = crop_from_points((p + lag * (before - p))[m], size, self.enlarge)
        crop, q = t.apply(image), t.to_crop(p)
        if mirrored:
            crop, q = mirror_crop(crop), mirror_points(q, size)
        return crop, np.where(m[:, None], q, 0.0), m

    def __getitem__(self, k: int):
        rng = np.random.default_rng([self.cfg.seed, self.epoch, k]) if self.train else None
        crop, points, mask = self.load(k, rng)
        visible = np.ones(len(points), bool)
        if self.augment is not None:
            crop, points, mask, visible = self.augment(crop, points, mask, rng)
        size = self.cfg.input_size
        x = torch.from_numpy(to_input(crop, self.cfg.grayscale))
        tgt = {key: torch.as_tensor(v) for key, v in encode(points / size, mask, self.grid, self.nb, visible).items()}
        tgt["points"] = torch.as_tensor(np.where(mask[:, None], points / size, np.nan), dtype=torch.float32)
        tgt["index"] = torch.tensor(k)
        return x, tgt




def make_dataset(data_dir, list_name: str, cfg: Config, layout: Layout, nb: np.ndarray, train: bool):
    """The dataset a config trains on: whole faces, or (`cfg.part`) crops of one part of them."""
    from .dataset import LandmarkDataset

    if cfg.part:
        return PartDataset(data_dir, list_name, cfg, part_spec(cfg.part), nb, train)
    return LandmarkDataset(data_dir, list_name, cfg, layout, nb, train)
