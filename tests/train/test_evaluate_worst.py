"""`eval` draws its worst cases on the source photo region each crop was cut from, at a readable size
(manifest.json: source path and exact crop transform), and on the enlarged crop when the source is gone."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from pipnet106.crop import CropTransform  # noqa: E402
from pipnet106.train.evaluate import WORST_MIN_SIDE, evaluate, source_region  # noqa: E402
from pipnet106.fileio import read_image  # noqa: E402
from pipnet106.data.prepare import prepare  # noqa: E402
from pipnet106.synth.faces import generate_dataset  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("worst")
    generate_dataset(root / "src", 8, seed=21, size_range=(300, 420), exts=(".png",))
    prepare(root / "src", root / "prep", size=128, crop="face", test_frac=0.5, workers=0, progress=False,
            verbose=False)
    return root / "prep"


def samples(data: Path) -> dict[str, dict]:
    return {s["image"]: s for s in json.loads((data / "manifest.json").read_text())["samples"]}


def background_share(drawing: np.ndarray, expected: np.ndarray) -> float:
    """Share of pixels of a drawing equal to `expected` (all but the drawn points)."""
    return float((drawing == expected).all(axis=2).mean())


def test_source_region_is_the_crop_at_a_larger_size(data):
    for name, s in samples(data).items():
        crop = read_image(data / name)
        big = source_region(s, 512)
        assert big.shape == (512, 512, 3)
        # the same region: brought back to the crop's size it is the crop, up to resampling
        small = cv2.resize(big, (128, 128), interpolation=cv2.INTER_AREA)
        assert np.abs(small.astype(int) - crop.astype(int)).mean() < 6, name
        # ... and exactly the source re-cut with the transform scaled by 512 / 128
        t = CropTransform.from_dict(s["transform"])
        recut = CropTransform(t.scale * 4, t.offset_x * 4, t.offset_y * 4, 512).apply(read_image(s["source"]))
        assert np.array_equal(big, recut)
    assert source_region(None, 512) is None
    assert source_region({**s, "source": str(data / "missing.png")}, 512) is None
    assert source_region({**s, "source_size": [1, 1]}, 512) is None  # the file changed since prepare


def test_worst_cases_drawn_on_the_source_at_a_readable_size(data, tmp_path):
    rep = evaluate("starter", data, out=tmp_path / "ev", worst=4)
    side = max(WORST_MIN_SIDE, 128)
    by_name = samples(data)
    drawings = sorted((tmp_path / "ev" / "worst").glob("*.png"))
    assert len(drawings) == len(rep["worst"]) == 4
    for w, path in zip(rep["worst"], drawings):
        assert w["drawn_on"] == "source"
        img = read_image(path)
        assert img.shape == (side, side, 3)
        on_source = source_region(by_name[w["image"]], side)
        on_crop = cv2.resize(read_image(data / w["image"]), (side, side), interpolation=cv2.INTER_LINEAR)
        assert background_share(img, on_source) > 0.8
        assert background_share(img, on_crop) < 0.5  # not the 128-px crop blown up

    # sources gone: the enlarged crop instead, same size
    moved = tmp_path / "moved"
    shutil.move(str(Path(next(iter(by_name.values()))["source"]).parent), moved)
    try:
        rep = evaluate("starter", data, out=tmp_path / "ev2", worst=2)
    finally:
        shutil.move(str(moved), str(Path(next(iter(by_name.values()))["source"]).parent))
    for w, path in zip(rep["worst"], sorted((tmp_path / "ev2" / "worst").glob("*.png"))):
        assert w["drawn_on"] == "crop"
        img = read_image(path)
        on_crop = cv2.resize(read_image(data / w["image"]), (side, side), interpolation=cv2.INTER_LINEAR)
        assert img.shape == (side, side, 3) and background_share(img, on_crop) > 0.8
