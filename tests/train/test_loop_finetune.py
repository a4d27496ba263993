"""Fine-tuning on a few dozen faces never hands back a model worse than the one it started from.

The starting model is epoch 0 (a metrics.csv row, and best.pt until an epoch beats it), a run that
ends worse than it started says so, the learning rate warms up (Adam's first step moves every weight
by about the learning rate, which wrecked the starter in one step), and `freeze_bn` keeps the
starter's BatchNorm statistics. Runs start from the shipped starter on 24 synthetic faces at its
input size (128), one or two steps each.
"""
from __future__ import annotations

import csv
import math
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pipnet106.cli import main
from pipnet106.train.evaluate import evaluate
from pipnet106.data.prepare import prepare
from pipnet106.synth.faces import generate_dataset
from pipnet106.constants import STARTER_PT as STARTER
from pipnet106.train.loop import warmup_factor, warn_if_worse

BASE = ["--init", "starter", "--set", "batch_size=8", "--set", "workers=0", "--set", "device=cpu",
        "--set", "max_steps_per_epoch=1", "--set", "decay_epochs=[100]"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ft")
    generate_dataset(root / "src", 24, seed=12, size_range=(140, 200))
    prepare(root / "src", root / "prep", size=128, crop="face", test_frac=0.25, workers=0, progress=False,
            verbose=False)
    return root / "prep"


def finetune(data: Path, out: Path, *sets: str, epochs: int = 2) -> list[warnings.WarningMessage]:
    """`train --config configs/finetune_starter.yaml --init starter` with `--set` overrides; returns its warnings."""
    config = Path(__file__).resolve().parents[2] / "configs" / "finetune_starter.yaml"
    argv = ["train", "--config", str(config), "--data", str(data), "--out", str(out), *BASE,
            "--set", f"epochs={epochs}"] + [a for kv in sets for a in ("--set", kv)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(argv) == 0
    return list(caught)


def rows(run: Path) -> list[dict[str, float]]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_training_that_only_hurts_keeps_the_starter_as_best_and_says_so(data, tmp_path, capsys):
    run = tmp_path / "hurt"
    caught = finetune(data, run, "lr=0.5", "warmup_steps=0")
    assert "note: warmup_steps 0" in capsys.readouterr().out  # fine-tuning without a warm-up is pointed out
    r = rows(run)
    assert [x["epoch"] for x in r] == [0, 1, 2]
    start = r[0]["val_nme"]
    assert abs(start - evaluate("starter", data)["nme"]) < 1e-5  # epoch 0 is the starter, measured
    assert math.isnan(r[0]["loss"]) and r[0]["best_nme"] == start
    assert all(not x["val_nme"] <= start for x in r[1:]), "premise: lr 0.5 wrecks the model"
    assert all(x["best_nme"] == start for x in r)
    best, starter = state(run / "best.pt"), state(STARTER)
    assert best.keys() == starter.keys()
    for k in best:  # best.pt holds the starter's weights exactly (float16 in the file, float32 here)
        assert torch.equal(best[k], starter[k].to(best[k].dtype)), k
    assert torch.load(run / "best.pt", weights_only=True)["epoch"] == 0
    msgs = [str(w.message) for w in caught if "ended worse than it started" in str(w.message)]
    assert len(msgs) == 1, [str(w.message) for w in caught]
    assert "best.pt is the starting model" in msgs[0] and f"{start * 100:.3f}%" in msgs[0]


def test_worse_last_epoch_warning_names_the_better_best():
    run = types.SimpleNamespace(start_nme=0.02, best=0.015, master=True, cfg=types.SimpleNamespace(init="starter"))
    history = [{"epoch": 0, "val_nme": 0.02}, {"epoch": 1, "val_nme": 0.015}, {"epoch": 2, "val_nme": 0.03}]
    with pytest.warns(UserWarning, match=r"ended worse than it started: epoch 2 val NME 3\.000%.*best\.pt \(1\.500%\)"):
        assert warn_if_worse(run, history)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning in any of these
        assert warn_if_worse(run, history[:2]) is None                       # ends better
        assert warn_if_worse(run, history[:1]) is None                       # no epoch trained
        assert warn_if_worse(types.SimpleNamespace(**{**vars(run), "start_nme": None}), history) is None  # scratch


def test_warmup_scales_adams_first_step(data, tmp_path):
    # Adam's first step moves every weight with a gradient by lr * g / (|g| + eps), i.e. by the rate it is
    # given: the largest change of the score head is the learning rate of that step
    lr = 1e-3
    for warm, expect in ((0, lr), (4, lr / 4)):
        run = tmp_path / f"w{warm}"
        finetune(data, run, f"lr={lr}", f"warmup_steps={warm}", "freeze_bn=true", epochs=1)
        step = (state(run / "last.pt")["cls_layer.weight"] - state(STARTER)["cls_layer.weight"].float()).abs().max()
        assert float(step) == pytest.approx(expect, rel=1e-3), warm
        assert rows(run)[1]["lr"] == lr  # the epoch's scheduled rate, not the warmed-up one
    assert [warmup_factor(4, k) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0


def test_warmup_continues_exactly_after_resume(data, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    finetune(data, whole, "warmup_steps=5", epochs=3)
    finetune(data, split, "warmup_steps=5", epochs=1)
    assert main(["train", "--resume", str(split), "--set", "epochs=3"]) == 0
    a, b = state(whole / "last.pt"), state(split / "last.pt")
    for k in a:
        assert torch.allclose(a[k].double(), b[k].double(), rtol=0, atol=1e-6), k
    np.testing.assert_allclose([r["val_nme"] for r in rows(split)], [r["val_nme"] for r in rows(whole)],
                               rtol=0, atol=1e-6)


def test_freeze_bn_keeps_the_starters_statistics(data, tmp_path):
    starter = state(STARTER)
    stats = [k for k in starter if k.endswith(("running_mean", "running_var"))]
    assert len(stats) > 50
    for frozen in (True, False):
        run = tmp_path / f"bn_{frozen}"
        finetune(data, run, f"freeze_bn={str(frozen).lower()}", epochs=1)
        last = state(run / "last.pt")
        same = [torch.equal(last[k], starter[k].to(last[k].dtype)) for k in stats]
        assert all(same) if frozen else not any(same), frozen
        # the BatchNorm scale and shift still learn either way
        assert not torch.equal(last["backbone.features.1.conv.0.1.weight"],
                               starter["backbone.features.1.conv.0.1.weight"].float())


def test_shipped_finetune_config_warms_up_and_says_colour():
    text = (Path(__file__).resolve().parents[2] / "configs" / "finetune_starter.yaml").read_text()
    from pipnet106.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "finetune_starter.yaml")
    assert cfg.warmup_steps > 0 and not cfg.grayscale
    assert "grayscale)" not in text and "colour" in text


def test_train_only_visibility_adds_the_output_without_moving_a_point(data, tmp_path):
    """`train_only: visibility` from the starter: the visibility head learns, every other weight and
    BatchNorm statistic stays the starter's, so the points decode exactly as before (how the shipped
    starter got its head)."""
    out = tmp_path / "vis"
    finetune(data, out, "visibility=true", "train_only=visibility", "occlude_prob=1.0", "occluders=hand,mask",
             "lr=0.01", "warmup_steps=0", epochs=1)
    before, after = state(STARTER), state(out / "last.pt")
    vis = {k for k in after if k.startswith("vis_layer.")}
    assert vis and set(after) == set(before)
    for k, v in before.items():
        if k not in vis:
            assert torch.equal(after[k].to(v.dtype), v), k      # weights and running statistics alike
    assert any(not torch.equal(after[k].to(before[k].dtype), before[k]) for k in vis)   # the head learned


def test_train_only_needs_the_visibility_head(data, tmp_path):
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "x"), *BASE,
                 "--set", "train_only=visibility"]) == 2
