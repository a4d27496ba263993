"""Training/evaluation dataset over a prepared folder.

Randomness is a pure function of (seed, epoch, sample index): a run resumed
after a kill sees exactly the augmentations an uninterrupted run would, with
any number of DataLoader workers.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import Augmenter
from .config import Config
from .constants import IMAGENET_MEAN, IMAGENET_STD
from .errors import UserError
from .fileio import read_image
from .formats import read_list
from .layout import Layout
from .targets import encode

_MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)
_STD = np.array(IMAGENET_STD, dtype=np.float32)


def to_input(image_bgr: np.ndarray, grayscale: bool = False) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> normalized float32 (3, H, W) RGB, the network's input.

    With `grayscale`, the image is reduced to luminance and replicated to three
    channels first, so colour photos look like the grayscale training domain.
    """
    if grayscale:
        image_bgr = cv2.cvtColor(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    rgb = image_bgr[:, :, ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(((rgb - _MEAN) / _STD).transpose(2, 0, 1))


def list_path(data_dir: str | Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else Path(data_dir) / p


class LandmarkDataset(Dataset):
    """Samples of a prepared folder's list file, as (image tensor, target dict)."""

    def __init__(self, data_dir: str | Path, list_name: str, cfg: Config, layout: Layout,
                 nb: np.ndarray, train: bool) -> None:
        self.root = Path(data_dir)
        path = list_path(self.root, list_name)
        if not path.is_file():
            raise UserError(f"{path}: list file not found (run `pipnet106 prepare` first?)")
        self.entries = read_list(path, layout.num_points)
        if not self.entries:
            raise UserError(f"{path}: list file has no samples")
        self.cfg, self.layout, self.nb, self.train = cfg, layout, np.asarray(nb), train
        self.grid = cfg.input_size // cfg.net_stride
        self.augment = Augmenter(cfg, layout) if train else None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image (S, S, 3) BGR at the input size, points in pixels, validity mask."""
        name, pts = self.entries[i]
        image = read_image(self.root / name, exif=False)
        size = self.cfg.input_size
        if image.shape[:2] != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        mask = np.isfinite(pts).all(axis=1)
        points = np.where(mask[:, None], pts, 0.0) * size
        return image, points, mask

    def __getitem__(self, i: int):
        image, points, mask = self.load(i)
        if self.augment is not None:
            rng = np.random.default_rng([self.cfg.seed, self.epoch, i])
            image, points, mask = self.augment(image, points, mask, rng)
        x = torch.from_numpy(to_input(image, self.cfg.grayscale))
        tgt = encode(points / self.cfg.input_size, mask, self.grid, self.nb)
        tgt = {k: torch.as_tensor(v) for k, v in tgt.items()}
        tgt["points"] = torch.as_tensor(np.where(mask[:, None], points / self.cfg.input_size, np.nan),
                                        dtype=torch.float32)
        tgt["index"] = torch.tensor(i)
        return x, tgt
