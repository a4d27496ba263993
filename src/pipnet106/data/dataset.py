"""Training/evaluation dataset over a prepared folder, and the crop rule that folder implies.

Randomness is a pure function of (seed, epoch, sample index): a run resumed
after a kill sees exactly the augmentations an uninterrupted run would, with
any number of DataLoader workers.

The crop contract: a model only works on crops like the ones it was trained on.
`crop_rule` reads how `prepare` cropped the folder (manifest.json) and turns it
into the face-box enlargement inference must use; `train` stores it in the
checkpoint, export copies it into the ONNX metadata, `Landmarker` crops with it.
"""
from __future__ import annotations

import math
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import Augmenter
from ..config import Config
from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..errors import UserError
from ..fileio import read_image
from .formats import read_json, read_list
from ..layout import Layout
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


def worker_ignores_stop_signals(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: leave Ctrl-C and SIGTERM to the main process.

    A terminal's Ctrl-C reaches the whole process group, and `pkill -f "pipnet106 train"` matches
    the workers' command line too. A worker killed by the signal makes the main process's
    DataLoader raise its own "worker killed" traceback on top of the one-line interrupt message;
    ignoring the signals here lets the main process save and then shut its workers down itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


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
            hint = "" if train else ("; validation needs test samples: prepare with --test-frac > 0 or --test-list, "
                                     "or point test_list at another list")
            raise UserError(f"{path}: list file has no samples{hint}")
        self.cfg, self.layout, self.nb, self.train = cfg, layout, np.asarray(nb), train
        self.grid = cfg.input_size // cfg.net_stride
        self.augment = Augmenter(cfg, layout) if train else None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image (S, S, 3) BGR at the input size, points in pixels, validity mask. With `rng` (training),
        the shape augmentation runs first, at the prepared crop's own resolution."""
        name, pts = self.entries[i]
        image = read_image(self.root / name, exif=False)
        mask = np.isfinite(pts).all(axis=1)
        if rng is not None and self.augment is not None and self.augment.shape_prob:
            full = np.where(mask[:, None], pts, 0.0) * np.array([image.shape[1], image.shape[0]])
            image, full, _ = self.augment.reshape(image, full, mask, rng)
            pts = np.where(mask[:, None], full / np.array([image.shape[1], image.shape[0]]), np.nan)
        size = self.cfg.input_size
        if image.shape[:2] != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        points = np.where(mask[:, None], pts, 0.0) * size
        return image, points, mask

    def other_image(self, rng: np.random.Generator) -> np.ndarray:
        """Another sample's photo at the input size (the ``texture`` occluder's source)."""
        name, _ = self.entries[int(rng.integers(len(self.entries)))]
        image = read_image(self.root / name, exif=False)
        size = self.cfg.input_size
        return image if image.shape[:2] == (size, size) else cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.cfg.seed, self.epoch, i]) if self.augment is not None else None
        image, points, mask = self.load(i, rng)
        visible = np.ones(len(points), bool)
        if self.augment is not None:
            pick = np.random.default_rng([self.cfg.seed, self.epoch, i, 1])   # its own stream: read only if drawn
            image, points, mask, visible = self.augment(image, points, mask, rng, other=lambda: self.other_image(pick))
        x = torch.from_numpy(to_input(image, self.cfg.grayscale))
        tgt = encode(points / self.cfg.input_size, mask, self.grid, self.nb, visible)
        tgt = {k: torch.as_tensor(v) for k, v in tgt.items()}
        tgt["points"] = torch.as_tensor(np.where(mask[:, None], points / self.cfg.input_size, np.nan),
                                        dtype=torch.float32)
        tgt["index"] = torch.tensor(i)
        return x, tgt


# --------------------------------------------------------------------------- crop contract

@dataclass(frozen=True)
class CropRule:
    """How the training crops were made, hence how inference must crop a new face."""

    mode: str
    """'face' (square around the landmark box), 'letterbox' (whole photo) or 'unknown' (no manifest)."""
    enlarge: float
    """Crop side / long side of the landmark box: what `crop.square_box` must use at inference."""
    source: str
    """Where `enlarge` came from, for logs and errors."""

    def to_dict(self) -> dict:
        return asdict(self)


def read_manifest(data_dir: str | Path) -> dict | None:
    """A prepared folder's manifest.json, or None when the folder was made by hand."""
    p = Path(data_dir) / "manifest.json"
    return read_json(p) if p.is_file() else None


def measured_enlarge(entries: list[tuple[str, np.ndarray]]) -> tuple[float, int]:
    """Median of (crop side / long side of the landmark box) over samples, and how many were measured.

    Points are normalized to the crop, so the ratio is 1 / the box's long side. The median ignores
    the odd mislabelled face; it is the enlargement at which a face box fills a crop the way the
    training faces filled theirs.
    """
    ratios = []
    for _, pts in entries:
        p = pts[np.isfinite(pts).all(axis=1)]
        if len(p) >= 2:
            side = float(max(np.ptp(p[:, 0]), np.ptp(p[:, 1])))
            if side > 1e-6:
                ratios.append(1.0 / side)
    return (float(np.median(ratios)) if ratios else math.nan), len(ratios)


def crop_rule(data_dir: str | Path, entries: list[tuple[str, np.ndarray]], manifest: dict | None,
              requested: float = 0.0, requested_from: str = "the config") -> CropRule:
    """The crop rule of a prepared folder; a `requested` enlargement (non-zero) must agree with it.

    face crops: the manifest's `enlarge`, exactly. Letterboxed photos: the measured median ratio of
    the training faces (`measured_enlarge`). No manifest: `requested` if given, else measured.
    """
    data_dir = Path(data_dir)
    mpath = data_dir / "manifest.json"
    mode = manifest.get("crop") if manifest else None
    if mode == "face":
        try:
            enlarge = float(manifest["enlarge"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{mpath}: face crop without a valid 'enlarge'") from None
        rule = CropRule("face", enlarge, f"{mpath}: prepare --crop face --enlarge {enlarge:g}")
    else:
        value, n = measured_enlarge(entries)
        if not n:
            raise UserError(f"{data_dir}: no training sample has two labelled points to measure the face size")
        if mode is None and requested:
            return CropRule("unknown", float(requested), f"{requested_from} (no manifest.json in {data_dir})")
        what = "letterboxed photos" if mode == "letterbox" else f"no manifest.json in {data_dir}"
        rule = CropRule("letterbox" if mode == "letterbox" else "unknown", round(value, 4),
                        f"median face size of {n} training crops in {data_dir} ({what})")
    if requested and not math.isclose(requested, rule.enlarge, rel_tol=1e-3):
        raise UserError(f"crop_enlarge {requested:g} from {requested_from} disagrees with the training crops: "
                        f"{rule.enlarge:g} from {rule.source}; remove crop_enlarge from the config to use the "
                        f"data's rule, or prepare again with --crop face --enlarge {requested:g}")
    return rule


def check_input_size(manifest: dict | None, data_dir: str | Path, input_size: int,
                     size_from: str = "the config") -> str | None:
    """Images prepared smaller than the network input are refused; larger ones give a note (returned).

    Upscaled crops would train on blurred faces that inference (which crops the photo at full
    resolution) never shows the model. Downscaling by the area filter on load is what inference
    does too, so it only costs time.
    """
    if not manifest or "input_size" not in manifest:
        return None
    prepared = int(manifest["input_size"])
    if prepared < input_size:
        raise UserError(f"{Path(data_dir) / 'manifest.json'}: images were prepared at {prepared} px but input_size is "
                        f"{input_size} (from {size_from}); upscaled crops would train on blurred faces: prepare again "
                        f"with --size {input_size}, or set input_size={prepared}")
    if prepared > input_size:
        return (f"note: images prepared at {prepared} px are resized to input_size {input_size} as they load "
                f"(prepare with --size {input_size} to save that time)")
    return None
