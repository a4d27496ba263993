"""The per-batch function behind the Ray Data recipe: same records as `pipnet106 predict`, shards, reruns.

No Ray needed: `BatchPredictor` is plain package code (examples/ray_predict.py wires it into Ray).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from pipnet106.infer.batch import BatchPredictor, read_shards, shard_name  # noqa: E402
from pipnet106.cli import main  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    shutil.copy(FIXTURES / "group4.jpg", root / "a.jpg")
    (root / "sub").mkdir()
    shutil.copy(FIXTURES / "pair2.jpg", root / "sub" / "b.jpg")
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def test_same_records_as_predict(folder, tmp_path):
    paths = sorted(str(p) for p in folder.rglob("*.jpg"))
    bp = BatchPredictor(tmp_path / "shards", root=folder, threads=1)
    # two batches, as Ray Data would hand them to one worker
    s1 = bp({"path": np.array(paths[:2])})
    s2 = bp({"path": np.array(paths[2:])})
    assert int(s1["images"][0]) + int(s2["images"][0]) == 3
    assert int(s1["errors"][0]) + int(s2["errors"][0]) == 1
    assert len(list((tmp_path / "shards").glob("part-*.jsonl"))) == 2
    ours = read_shards(tmp_path / "shards")

    assert main(["predict", str(folder), "--out", str(tmp_path / "cli"), "--threads", "1"]) == 1  # broken.jpg
    cli = sorted((json.loads(line) for line in (tmp_path / "cli" / "predictions.jsonl").read_text().splitlines()),
                 key=lambda r: r["image"])
    assert [r["image"] for r in ours] == ["a.jpg", "broken.jpg", "sub/b.jpg"]
    assert ours == cli  # identical records, points included
    assert len(ours[0]["faces"]) == 4 and ours[1]["error"]


def test_rerun_keeps_finished_shards(folder, tmp_path):
    paths = [str(folder / "a.jpg")]
    bp = BatchPredictor(tmp_path, root=folder, threads=1)
    first = bp({"path": np.array(paths)})
    shard = tmp_path / str(first["shard"][0])
    before = shard.read_text()

    def boom(*a, **k):
        raise AssertionError("a finished shard must not be predicted again")

    bp.lm.predict = boom
    again = bp({"path": np.array(paths)})
    assert again["shard"][0] == first["shard"][0] and int(again["faces"][0]) == int(first["faces"][0]) == 4
    assert shard.read_text() == before


def test_shard_names():
    assert shard_name(["a", "b"]) == shard_name(["a", "b"]) != shard_name(["a", "c"])
    assert shard_name(["a"]).startswith("part-") and shard_name(["a"]).endswith(".jsonl")
