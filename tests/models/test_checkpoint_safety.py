"""Untrusted files run no code: every checkpoint is read with torch.load(weights_only=True)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pipnet106.models.checkpoint import load_scheduler, make_checkpoint, plain, read_checkpoint
from pipnet106.cli import main
from pipnet106.config import Config
from pipnet106.errors import UserError
from pipnet106.fileio import atomic_torch_save
from pipnet106.data.meanface import neighbors
from pipnet106.models import build_model
from pipnet106.synth.faces import template

ROOT = Path(__file__).resolve().parents[2]
GROUP = ROOT / "tests" / "fixtures" / "group4.jpg"


class _Payload:
    """Unpickling this calls open(marker, "w"): the file appears iff the payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture()
def booby_trap(tmp_path):
    """(a .pt that looks like a pipnet106 checkpoint but carries a payload, the marker its payload creates)."""
    marker = tmp_path / "PAYLOAD_RAN"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "pipnet106-checkpoint", "version": 1, "config": {"layout": "lapa106"},
                "model": {"w": torch.zeros(2)}, "extra": [_Payload(marker)]}, evil)
    return evil, marker


def test_the_trap_is_live_with_a_plain_pickle_load(booby_trap):
    """Sanity: the crafted file really runs code when loaded the old way (so the tests below mean something)."""
    evil, marker = booby_trap
    code = f"import torch; torch.load({str(evil)!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, cwd=evil.parent)
    assert marker.exists()


@pytest.mark.parametrize("command", ["predict", "eval", "export", "train --init"])
def test_booby_trapped_checkpoint_is_refused_and_never_runs(booby_trap, tmp_path, capsys, command):
    evil, marker = booby_trap
    data = tmp_path / "data"
    data.mkdir()
    args = {
        "predict": ["predict", str(GROUP), "--weights", str(evil), "--out", str(tmp_path / "o")],
        "eval": ["eval", "--weights", str(evil), "--data", str(data)],
        "export": ["export", "--weights", str(evil), "--out", str(tmp_path / "x.onnx")],
        "train --init": ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--init", str(evil)],
    }[command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pipnet106: error:") and "evil.pt" in err[0], err
    assert "refused" in err[0]
    assert not marker.exists()
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "run" / "last.pt").exists()


def test_python_api_refuses_the_trap_too(booby_trap):
    from pipnet106.infer.landmarker import Landmarker

    evil, marker = booby_trap
    with pytest.raises(UserError, match="refused"):
        Landmarker.from_checkpoint(evil)
    assert not marker.exists()


def test_training_checkpoint_is_plain_data(tmp_path):
    """A last.pt with optimizer, MultiStepLR, scaler, RNG and numpy metrics loads with weights_only=True
    (torch >= 2.3, whose safe loader knows no Counter) and resumes the same learning-rate schedule."""
    cfg = Config.from_dict(dict(input_size=64, backbone="mobilenet_v2", width=320, net_stride=32, num_nb=4))
    model = build_model(cfg, warn_scratch=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [2, 3], 0.1)
    for _ in range(2):
        model(torch.rand(1, 3, 64, 64))[0].sum().backward()
        opt.step()
        sched.step()
    mf = template()
    ck = make_checkpoint(model, cfg, mf, neighbors(mf, 4), epoch=2, optimizer=opt.state_dict(),
                         scheduler=sched.state_dict(), scaler=torch.amp.GradScaler("cuda", enabled=False).state_dict(),
                         rng={"torch": torch.get_rng_state()}, best_nme=np.float64(0.05),
                         metrics={"val_nme": np.float32(0.05), "per_region": np.array([0.1, 0.2])})
    path = atomic_torch_save(tmp_path / "last.pt", ck)
    back = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(back["best_nme"], float) and back["metrics"]["per_region"] == [0.1, 0.2]
    assert read_checkpoint(path)["epoch"] == 2

    opt2 = torch.optim.Adam(build_model(cfg, warn_scratch=False).parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.MultiStepLR(opt2, [9], 0.5)
    opt2.load_state_dict(back["optimizer"])
    load_scheduler(sched2, back["scheduler"])
    lrs = []
    for _ in range(3):
        opt2.step()
        sched2.step()
        lrs.append(opt2.param_groups[0]["lr"])
    assert lrs == pytest.approx([1e-5, 1e-5, 1e-5])  # the saved milestones [2, 3]: 1e-4 at 2, 1e-5 from 3 on
    assert plain({"a": (np.int64(3), np.zeros(2))}) == {"a": (3, [0.0, 0.0])}


def test_shipped_starter_loads_safely():
    from pipnet106.constants import STARTER_PT

    ck = read_checkpoint(STARTER_PT)
    assert ck["format"] == "pipnet106-checkpoint" and ck["layout"] == "lapa106"
