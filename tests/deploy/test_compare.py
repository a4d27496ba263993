"""`pipnet106 compare` on a tiny synthetic prepared folder: the files it writes, and resuming.

A head stopped half way (trained for 1 of its 2 epochs) is resumed, not restarted; a rerun skips
every finished head without touching its files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the modules below import it (the torch-free suite skips this file)

from pipnet106.cli.main import main
from pipnet106.config import Config
from pipnet106.data.prepare import prepare
from pipnet106.deploy.compare import parse_heads
from pipnet106.errors import UserError
from pipnet106.synth.faces import generate_dataset
from pipnet106.train.loop import train

HEADS = ("pip", "regression", "simcc", "heatmap")
SETS = ["input_size=64", "width=320", "net_stride=32", "batch_size=4", "max_steps_per_epoch=2", "epochs=2",
        "workers=0", "num_nb=4"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cmp")
    generate_dataset(root / "src", 16, seed=5, size_range=(96, 128))
    prepare(root / "src", root / "prep", size=64, crop="face", test_frac=0.25, workers=0, progress=False,
            verbose=False)
    return root / "prep"


def _argv(prepared: Path, out: Path) -> list[str]:
    return ["compare", "--data", str(prepared), "--out", str(out), "--heads", ",".join(HEADS), "--repeats", "2",
            "--follow-faces", "2",
            *[a for s in SETS for a in ("--set", s)]]


def test_compare_writes_table_and_resumes(prepared, tmp_path, capsys):
    out = tmp_path / "cmp"
    # a regression sub-run stopped after the first of its two epochs
    half = Config.from_dict({k: v for k, v in (s.split("=") for s in SETS)} | {"epochs": 1})
    train(Config.from_dict({**half.to_dict(), "head": "regression", "data": str(prepared),
                            "out": str(out / "regression")}), quiet=True)
    first_row = (out / "regression" / "metrics.csv").read_text().splitlines()[1]

    assert main(_argv(prepared, out)) == 0
    summary = json.loads((out / "compare.json").read_text())
    assert [r["head"] for r in summary["rows"]] == list(HEADS)
    for r in summary["rows"]:
        assert 0 < r["nme"] and r["params"] > 0 and r["flops"] > 0 and r["ms_per_face_b1"] > 0
        assert set(r["regions"]) >= {"contour", "eyes", "mouth"} and r["num_samples"] == 4
        assert (out / r["head"] / "model.onnx").is_file()
        assert r["follow"]["faces"] == 2 and set(r["follow"]["parts"]) >= {"eyes", "mouth", "jaw"}
    md = (out / "compare.md").read_text()
    assert all(f"| {h} |" in md for h in HEADS) and "ms/face b8" in md and "follow eyes" in md
    assert (out / "ced.png").read_bytes()[:4] == b"\x89PNG"
    # the stopped head was resumed: its first epoch's row kept, the second added
    rows = (out / "regression" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1] == first_row

    # a rerun skips every finished head: nothing retrained or re-measured
    stamps = {h: [(out / h / f).stat().st_mtime_ns for f in ("last.pt", "result.json", "follow.json", "model.onnx")]
              for h in HEADS}
    capsys.readouterr()
    assert main(_argv(prepared, out)) == 0
    said = capsys.readouterr().out
    assert all(f"compare: {h} is done" in said for h in HEADS)
    for h in HEADS:
        assert [(out / h / f).stat().st_mtime_ns for f in ("last.pt", "result.json", "follow.json", "model.onnx")] \
            == stamps[h]


def test_backbone_init_keeps_only_the_backbone(tmp_path):
    """compare --init: every head, PIPNet's included, starts from the same backbone and a fresh head."""
    from pipnet106.constants import STARTER_PT
    from pipnet106.deploy.compare import backbone_init
    from pipnet106.models.checkpoint import read_checkpoint

    path = backbone_init("starter", tmp_path)
    ck, src = read_checkpoint(path), read_checkpoint(STARTER_PT)
    assert set(ck["model"]) == {k for k in src["model"] if k.startswith("backbone.")} and ck["model"]
    assert ck["config"]["data_terms"] == src["config"]["data_terms"]    # the terms travel with the weights


def test_heads_list_is_checked(prepared, tmp_path, capsys):
    with pytest.raises(UserError, match="unknown head"):
        parse_heads("pip,dsnt")
    with pytest.raises(UserError, match="twice"):
        parse_heads("pip,pip")
    assert main(["compare", "--data", str(prepared), "--out", str(tmp_path / "x"), "--heads", "pip,foo"]) == 2
    assert "unknown head(s) foo" in capsys.readouterr().err
