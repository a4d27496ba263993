"""`pipnet106 train` / `eval` end to end on tiny synthetic data (CPU, 64 px, mobilenet_v2 width 320).

One module fixture prepares 48 synthetic faces (36 train / 12 test) and runs one short training
that the eval, fine-tuning and resume tests reuse; everything else is a 1-2 step run.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pipnet106.models.checkpoint import load_model
from pipnet106.cli import main
from pipnet106.config import Config
from pipnet106.data.dataset import LandmarkDataset, check_input_size, measured_enlarge
from pipnet106.errors import UserError
from pipnet106.train.evaluate import evaluate
from pipnet106.data.formats import read_list, read_points_txt, write_list
from pipnet106.layout import get_layout
from pipnet106.data.meanface import load_meanface, neighbors, save_meanface
from pipnet106.data.prepare import prepare
from pipnet106.synth.faces import generate_dataset
from pipnet106.train.loop import PAUSE_ENV, PAUSE_MARKER

SIZE = 64
SEED = 3
# every run: tiny input, the narrowest network, no workers, CPU, a fixed seed
BASE = ["--set", f"input_size={SIZE}", "--set", "width=320", "--set", "batch_size=8", "--set", "workers=0",
        "--set", "device=cpu", "--set", f"seed={SEED}", "--set", "lr=0.001"]
REGIONS = {"contour", "brows", "nose", "eyes", "mouth", "pupils"}
# points of lapa106 that a masked-points test may drop: not in any normalization pair
NORM_POINTS = {66, 79, 104, 105}


def train_args(data: Path, out: Path, *extra: str, epochs: int = 2, steps: int = 0) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), *BASE, "--set", f"epochs={epochs}",
            "--set", f"max_steps_per_epoch={steps}", *extra]


def sub_env() -> dict[str, str]:
    """Environment for child processes: the package importable, the same torch thread count as here
    (so a subprocess computes bit-for-bit what this process computes)."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
    return env


def read_metrics(run: Path) -> list[dict[str, float]]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k].double(), wb[k].double(), atol=atol, rtol=0), k


def fails(argv: list[str], capsys) -> str:
    """Run the CLI in-process; it must exit 2 with a single `pipnet106: error:` line on stderr.

    Warnings count as stderr lines too (pytest would otherwise swallow them), so an error
    raised after, say, the model was built with a from-scratch warning does not pass.
    """
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert not caught, [str(w.message) for w in caught]
    assert len(err.splitlines()) == 1, err
    assert err.startswith("pipnet106: error:"), err
    return err


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    generate_dataset(root / "src", 48, seed=5, size_range=(96, 160))
    prepare(root / "src", root / "prep", size=SIZE, crop="face", test_frac=0.25, workers=0,
            progress=False, verbose=False)
    return root / "prep"


@pytest.fixture(scope="module")
def run_a(prepared, tmp_path_factory) -> Path:
    """Uninterrupted 2-epoch run (4 steps each); reference for eval, fine-tuning and resume."""
    out = tmp_path_factory.mktemp("runs") / "a"
    assert main(train_args(prepared, out)) == 0
    return out


# ---------------------------------------------------------------- train + eval

def test_train_writes_run_folder(run_a):
    for name in ("last.pt", "best.pt", "metrics.csv", "config.yaml"):
        assert (run_a / name).is_file(), name
    rows = read_metrics(run_a)
    assert [r["epoch"] for r in rows] == [1.0, 2.0]
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["val_nme"]) for r in rows)
    assert rows[-1]["best_nme"] == min(r["val_nme"] for r in rows)
    last = torch.load(run_a / "last.pt", map_location="cpu", weights_only=True)
    assert (last["epoch"], last["step"]) == (2, 0)
    assert {"optimizer", "scheduler", "rng"} <= set(last)
    lm = load_model(run_a / "best.pt")
    assert lm.cfg.input_size == SIZE and lm.cfg.width == 320 and lm.nb.shape == (106, 10)
    assert "input_size: 64" in (run_a / "config.yaml").read_text()


def test_eval_report(run_a, prepared, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["eval", "--weights", str(run_a / "best.pt"), "--data", str(prepared), "--out", str(out)]) == 0
    assert "NME (outer_eye)" in capsys.readouterr().out
    rep = json.loads((out / "eval.json").read_text())
    assert rep["num_samples"] == 12 and rep["norm"] == "outer_eye" and rep["flip_tta"] is False
    for key in ("nme", "auc@0.1", "fr@0.1"):
        assert np.isfinite(rep[key]), key
    assert 0.0 <= rep["auc@0.1"] <= 1.0 and 0.0 <= rep["fr@0.1"] <= 1.0
    assert set(rep["regions"]) == REGIONS
    assert all(np.isfinite(v) and v > 0 for v in rep["regions"].values())
    assert (out / "ced.png").read_bytes()[:4] == b"\x89PNG"
    worst = sorted((out / "worst").glob("*.png"))
    assert len(worst) == 10
    nmes = [w["nme"] for w in rep["worst"]]
    assert nmes == sorted(nmes, reverse=True)

    # flip TTA changes the predictions
    assert main(["eval", "--weights", str(run_a / "best.pt"), "--data", str(prepared), "--out",
                 str(tmp_path / "flip"), "--flip", "--worst", "0"]) == 0
    flip = json.loads((tmp_path / "flip" / "eval.json").read_text())
    assert flip["flip_tta"] is True and np.isfinite(flip["nme"]) and flip["nme"] != rep["nme"]

    # same errors, other normalizers: bbox (face size) > outer-eye distance > pupil distance
    norms = {}
    for norm in ("bbox", "pupil"):
        o = tmp_path / norm
        assert main(["eval", "--weights", str(run_a / "best.pt"), "--data", str(prepared), "--out", str(o),
                     "--norm", norm, "--worst", "0"]) == 0
        norms[norm] = json.loads((o / "eval.json").read_text())
        assert norms[norm]["norm"] == norm
    assert norms["bbox"]["nme"] < rep["nme"] < norms["pupil"]["nme"]


# ---------------------------------------------------------------- reproducibility

def test_fixed_seed_runs_are_identical(prepared, tmp_path):
    for name in ("r1", "r2"):
        assert main(train_args(prepared, tmp_path / name, epochs=1, steps=2)) == 0
    assert_same_weights(tmp_path / "r1" / "last.pt", tmp_path / "r2" / "last.pt", atol=0.0)
    w0 = weights(tmp_path / "r1" / "last.pt")
    # ... and training did change the weights (the heads start near 0 with std 0.001)
    assert w0["cls_layer.weight"].abs().max() > 0.005


def test_resume_after_sigkill_matches_uninterrupted(run_a, prepared, tmp_path):
    out = tmp_path / "b"
    # the run pauses right after the mid-epoch save (step 2 of 4 in epoch 1): the kill lands exactly there
    proc = _start_paused(train_args(prepared, out) + ["--save-every", "2"], out, "0:2", tmp_path / "b.log")
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
    finally:
        _reap(proc)
    assert proc.returncode == -signal.SIGKILL
    killed = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert (killed["epoch"], killed["step"]) == (0, 2), "the kill should land inside epoch 1"
    assert not (out / "metrics.csv").exists()

    assert main(["train", "--resume", str(out)]) == 0
    ra, rb = read_metrics(run_a), read_metrics(out)
    assert [r["epoch"] for r in rb] == [1.0, 2.0]
    np.testing.assert_allclose([r["val_nme"] for r in rb], [r["val_nme"] for r in ra], rtol=0, atol=1e-6)
    np.testing.assert_allclose([r["loss"] for r in rb], [r["loss"] for r in ra], rtol=0, atol=1e-5)
    assert_same_weights(run_a / "last.pt", out / "last.pt")
    assert_same_weights(run_a / "best.pt", out / "best.pt")

    # resuming a finished run trains nothing more and keeps the weights
    assert main(["train", "--resume", str(out)]) == 0
    assert_same_weights(run_a / "last.pt", out / "last.pt")
    assert len(read_metrics(out)) == 2


def test_distributed_data_parallel_two_processes(prepared, tmp_path):
    out = tmp_path / "ddp"
    env = sub_env()
    env["OMP_NUM_THREADS"] = "1"
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "pipnet106", *train_args(prepared, out, epochs=1, steps=2)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert "x2" in res.stdout  # "device cpu x2"
    lm = load_model(out / "best.pt")
    assert lm.cfg.input_size == SIZE
    assert [r["epoch"] for r in read_metrics(out)] == [1.0]
    assert torch.load(out / "last.pt", map_location="cpu", weights_only=True)["epoch"] == 1


# ---------------------------------------------------------------- bad input: one line, exit 2

@pytest.fixture(scope="module")
def ibug68_checkpoint(tmp_path_factory) -> Path:
    """A 68-point (ibug68 layout) checkpoint from a one-step run on 68-point labels."""
    root = tmp_path_factory.mktemp("ibug")
    generate_dataset(root / "src", 16, seed=9, size_range=(96, 128))
    for lab in (root / "src").glob("*.txt"):
        pts = np.loadtxt(lab)[:68]
        lab.write_text("".join(f"{x:.4f} {y:.4f}\n" for x, y in pts))
    prepare(root / "src", root / "prep", size=SIZE, crop="face", test_frac=0.25, layout="ibug68", num_nb=4,
            workers=0, progress=False, verbose=False)
    out = root / "run"
    assert main(train_args(root / "prep", out, "--set", "layout=ibug68", "--set", "num_nb=4",
                           epochs=1, steps=1)) == 0
    return out / "last.pt"


@pytest.mark.parametrize("extra, needle", [
    (["--set", "backbone=vgg99"], "unknown backbone 'vgg99'"),
    (["--set", "net_stride=48"], "net_stride"),
    (["--set", "lr=abc"], "lr"),
])
def test_invalid_config_values(prepared, tmp_path, capsys, extra, needle):
    assert needle in fails(train_args(prepared, tmp_path / "x", *extra), capsys)
    assert not (tmp_path / "x").exists()


def test_yaml_with_unknown_key(prepared, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\nlearning_rate: 0.1\n")
    err = fails(train_args(prepared, tmp_path / "x") + ["--config", str(cfg)], capsys)
    assert "learning_rate" in err and str(cfg) in err


def test_meanface_with_wrong_point_count(prepared, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(prepared, bad)
    save_meanface(bad / "meanface.txt", load_meanface(prepared / "meanface.txt")[:68])
    err = fails(train_args(bad, tmp_path / "x"), capsys)
    assert "meanface.txt" in err and "68" in err and "106" in err


@pytest.mark.parametrize("num_nb", [10, 4])
def test_init_from_other_layout(prepared, ibug68_checkpoint, tmp_path, capsys, num_nb):
    argv = train_args(prepared, tmp_path / "x", "--set", f"num_nb={num_nb}", "--init", str(ibug68_checkpoint))
    err = fails(argv, capsys)
    assert "ibug68" in err and "lapa106" in err and str(ibug68_checkpoint) in err


def test_invalid_set_value_in_subprocess(prepared, tmp_path):
    res = subprocess.run([sys.executable, "-m", "pipnet106", *train_args(prepared, tmp_path / "x", "--set", "lr=abc")],
                         env=sub_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipnet106: error:") and "abc" in lines[0], res.stderr


# ---------------------------------------------------------------- fine-tuning

def test_init_reuses_checkpoint_meanface(run_a, prepared, tmp_path, capsys):
    # a data copy whose mean face differs: the run must keep the checkpoint's mean face and neighbours
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    mf = load_meanface(prepared / "meanface.txt")
    save_meanface(data / "meanface.txt", mf[::-1] * 0.9 + 0.05)
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(train_args(data, tmp_path / "ft", "--init", str(run_a / "best.pt"), epochs=1, steps=1)) == 0
    assert not [w for w in caught if "scratch" in str(w.message)], "fine-tuning is not training from scratch"
    out = capsys.readouterr().out
    # the starting model's validation NME is logged before epoch 1, and it is that model's NME
    m = re.search(r"val NME ([0-9.]+)% before training", out)
    assert m, out
    ref = evaluate(run_a / "best.pt", prepared)["nme"] * 100
    assert abs(float(m.group(1)) - ref) < 1e-3, (m.group(1), ref)
    assert out.index("before training") < out.index("epoch 1/1")
    m = re.search(r"init: (\d+)/(\d+) tensors from", out)
    assert m, out
    assert int(m.group(1)) == int(m.group(2)) > 100
    assert "skipped" not in out and "differs" not in out
    src, ft = (torch.load(p, map_location="cpu", weights_only=True)
               for p in (run_a / "best.pt", tmp_path / "ft" / "last.pt"))
    np.testing.assert_array_equal(np.asarray(ft["meanface"]), np.asarray(src["meanface"]))
    np.testing.assert_array_equal(np.asarray(ft["nb"]), np.asarray(src["nb"]))
    assert not np.allclose(np.asarray(ft["meanface"]), load_meanface(data / "meanface.txt"))


def test_init_with_other_num_nb_is_reported_and_trains(run_a, prepared, tmp_path, capsys):
    capsys.readouterr()
    argv = train_args(prepared, tmp_path / "ft", "--set", "num_nb=4", "--init", str(run_a / "best.pt"),
                      epochs=1, steps=1)
    assert main(argv) == 0
    out = capsys.readouterr().out
    m = re.search(r"init: (\d+)/(\d+) tensors from .*; (\d+) skipped", out)
    assert m, out
    assert int(m.group(1)) < int(m.group(2)) and int(m.group(3)) > 0
    assert "neighbour table differs" in out
    lm = load_model(tmp_path / "ft" / "best.pt")
    assert lm.nb.shape == (106, 4)
    np.testing.assert_array_equal(lm.nb, neighbors(load_meanface(prepared / "meanface.txt"), 4))


# ---------------------------------------------------------------- masked (missing) points

def test_nan_points_are_masked_and_train(prepared, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    rng = np.random.default_rng(0)
    droppable = np.array([i for i in range(106) if i not in NORM_POINTS])
    dropped = {}
    for name in ("train.txt", "test.txt"):
        entries = read_list(data / name, 106)
        for k, (img, pts) in enumerate(entries):
            drop = rng.choice(droppable, size=int(rng.integers(1, 20)), replace=False)
            pts[drop] = np.nan
            dropped[(name, k)] = set(drop.tolist())
        write_list(data / name, entries)
    assert " nan nan" in (data / "train.txt").read_text()

    # read_list keeps NaN pairs; the dataset turns them into mask False
    entries = read_list(data / "train.txt", 106)
    assert set(np.flatnonzero(np.isnan(entries[0][1][:, 0])).tolist()) == dropped[("train.txt", 0)]
    cfg = Config(input_size=SIZE, width=320, net_stride=32)
    nb = neighbors(load_meanface(data / "meanface.txt"), cfg.num_nb)
    for train in (False, True):
        ds = LandmarkDataset(data, "train.txt", cfg, get_layout("lapa106"), nb, train=train)
        _, tgt = ds[0]
        if not train:  # augmentation may flip, which relabels points
            missing = np.flatnonzero(tgt["mask"].numpy() == 0).tolist()
            assert set(missing) == dropped[("train.txt", 0)]
        assert int((tgt["mask"] == 0).sum()) == len(dropped[("train.txt", 0)])
        assert torch.isnan(tgt["points"][tgt["mask"] == 0]).all()
        assert all(torch.isfinite(tgt[k]).all() for k in ("offset", "nb_offset", "cell"))

    out = tmp_path / "run"
    assert main(train_args(data, out, epochs=1, steps=2)) == 0
    rows = read_metrics(out)
    assert np.isfinite(rows[0]["loss"]) and np.isfinite(rows[0]["val_nme"])
    assert all(torch.isfinite(v.float()).all() for v in weights(out / "last.pt").values())


def test_read_list_rejects_half_nan_pair(tmp_path):
    line = "a.jpg " + " ".join(["0.5"] * 210) + " nan 0.5"
    (tmp_path / "l.txt").write_text(line + "\n")
    with pytest.raises(UserError, match="non-finite"):
        read_list(tmp_path / "l.txt", 106)
    (tmp_path / "l.txt").write_text(line.replace("nan 0.5", "nan nan") + "\n")
    assert np.isnan(read_list(tmp_path / "l.txt", 106)[0][1][105]).all()


# ---------------------------------------------------------------- resume that extends, and refuses the rest

def test_resume_extends_epochs_and_refuses_other_changes(run_a, prepared, tmp_path, capsys):
    run = tmp_path / "c"
    shutil.copytree(run_a, run)
    before = (run / "last.pt").read_bytes()
    yaml_cfg = tmp_path / "other.yaml"
    yaml_cfg.write_text("batch_size: 4\n")
    for extra, needle in ((["--set", "lr=0.01"], "lr (0.001 -> 0.01)"),
                          (["--config", str(yaml_cfg)], "batch_size (8 -> 4)"),
                          (["--data", str(tmp_path)], "data"),
                          (["--set", "epochs=1"], "epochs=1 is fewer than the 2 epochs")):
        err = fails(["train", "--resume", str(run), *extra], capsys)
        assert needle in err and str(run) in err, err
        assert (run / "last.pt").read_bytes() == before
    # unchanged values (the run's own config file, the same data) are not changes
    (tmp_path / "same.yaml").write_text((run / "config.yaml").read_text())
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", "--resume", str(run), "--config", str(tmp_path / "same.yaml"),
                     "--data", str(prepared), "--set", "epochs=3"]) == 0
    assert not [w for w in caught if "scratch" in str(w.message)], "a resumed run is not from scratch"
    assert "to 3 epochs" in capsys.readouterr().out
    ra, rc = read_metrics(run_a), read_metrics(run)
    assert [r["epoch"] for r in rc] == [1.0, 2.0, 3.0]
    assert rc[:2] == ra
    last = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    assert (last["epoch"], last["step"], last["config"]["epochs"]) == (3, 0, 3)
    assert "epochs: 3" in (run / "config.yaml").read_text()
    assert not torch.equal(last["model"]["cls_layer.weight"], weights(run_a / "last.pt")["cls_layer.weight"])


# ---------------------------------------------------------------- interrupts lose nothing

def _start_paused(argv: list[str], out: Path, at: str, log_path: Path, group: bool = False) -> subprocess.Popen:
    """Start `pipnet106 *argv` in a child that pauses at `at` ("EPOCH:STEP", `train.PAUSE_ENV`); return once
    it has (its marker file exists), so a signal sent now lands at exactly that step, on any machine.
    `group`: the child leads a process group of its own (with its DataLoader workers), as a terminal's job does."""
    env = sub_env()
    env[PAUSE_ENV] = at
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pipnet106", *argv], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=group)
    try:
        deadline = time.monotonic() + 600  # a hang guard only: the test waits for the file, not a time
        while not (out / PAUSE_MARKER).exists():
            assert proc.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "the run did not reach its pause point within 600 s"
            time.sleep(0.05)
    except BaseException:
        _reap(proc)
        raise
    assert (out / PAUSE_MARKER).read_text().strip() == at
    return proc


def _reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _interrupt(prepared: Path, out: Path, sig: int, log_path: Path, *extra: str,
               group: bool = False) -> subprocess.Popen:
    """Start a 2-epoch training, send `sig` when it is paused after step 1 of epoch 1, wait for the exit.
    `group`: to the child's whole process group (its DataLoader workers too), as a terminal's Ctrl-C does."""
    proc = _start_paused(train_args(prepared, out, "--save-every", "0", *extra), out, "0:1", log_path, group=group)
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        proc.wait(120)
    finally:
        _reap(proc)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_in_first_epoch_saves_resumable_checkpoint(run_a, prepared, tmp_path, sig):
    out = tmp_path / "i"
    proc = _interrupt(prepared, out, sig, tmp_path / "i.log")
    text = (tmp_path / "i.log").read_text()
    assert proc.returncode == 128 + sig, text[-2000:]
    assert f"continue with: pipnet106 train --resume {out}" in text, text[-2000:]
    assert "Traceback" not in text
    ck = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert (ck["epoch"], ck["step"]) == (0, 1), "the signal lands where the run paused: after step 1 of epoch 1"
    assert not (out / "metrics.csv").exists()
    if sig == signal.SIGINT:  # resuming ends exactly where an uninterrupted run ends
        assert main(["train", "--resume", str(out)]) == 0
        np.testing.assert_allclose([r["val_nme"] for r in read_metrics(out)],
                                   [r["val_nme"] for r in read_metrics(run_a)], rtol=0, atol=1e-6)
        assert_same_weights(run_a / "last.pt", out / "last.pt")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_the_whole_group_with_workers_prints_one_line(prepared, tmp_path, sig):
    # A terminal's Ctrl-C (and `pkill -f "pipnet106 train"`) reaches the DataLoader workers too; a worker
    # killed mid-batch used to add the DataLoader's own "worker ... is killed by signal" traceback.
    out = tmp_path / "g"
    proc = _interrupt(prepared, out, sig, tmp_path / "g.log", "--set", "workers=2", group=True)
    text = (tmp_path / "g.log").read_text()
    assert proc.returncode == 128 + sig, text[-2000:]
    assert "Traceback" not in text and "killed by signal" not in text, text[-2000:]
    assert f"continue with: pipnet106 train --resume {out}" in text, text[-2000:]
    ck = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert (ck["epoch"], ck["step"]) == (0, 1)


# ---------------------------------------------------------------- the crop contract

def _letterbox_ratio(prep: Path) -> float:
    """Median (crop side / landmark-box long side) of the training faces, from the manifest and source labels."""
    m = json.loads((prep / "manifest.json").read_text())
    ratios = []
    for s in m["samples"]:
        if s["split"] == "train":
            pts = read_points_txt(s["label"], 106)
            long_side = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]))
            ratios.append(s["transform"]["size"] / s["transform"]["scale"] / long_side)
    return float(np.median(ratios))


@pytest.mark.parametrize("crop, enlarge", [("face", 1.4), ("letterbox", None)])
def test_model_crops_like_its_training_data(tmp_path, crop, enlarge):
    from pipnet106.infer.landmarker import Landmarker

    generate_dataset(tmp_path / "src", 12, seed=11, size_range=(96, 160))
    prep = tmp_path / "prep"
    prepare(tmp_path / "src", prep, size=SIZE, crop=crop, enlarge=enlarge or 1.25, test_frac=0.25, workers=0,
            progress=False, verbose=False)
    expect = enlarge if crop == "face" else _letterbox_ratio(prep)
    if crop == "letterbox":
        assert expect > 1.4  # synthetic photos show the whole head and background: far from the 1.25 default
    assert main(train_args(prep, tmp_path / "run", epochs=1, steps=1)) == 0
    ck = torch.load(tmp_path / "run" / "best.pt", map_location="cpu", weights_only=True)
    assert ck["crop"]["mode"] == crop
    assert ck["config"]["crop_enlarge"] == pytest.approx(expect, rel=1e-3)
    lm = Landmarker.from_checkpoint(tmp_path / "run" / "best.pt", detector=None)
    assert lm.enlarge == pytest.approx(expect, rel=1e-3)


def test_config_that_disagrees_with_the_data_is_refused(prepared, tmp_path, capsys):
    # the fixture's data: face crops at the default 1.25
    err = fails(train_args(prepared, tmp_path / "x", "--set", "crop_enlarge=1.5"), capsys)
    assert "--set crop_enlarge=1.5" in err and str(prepared / "manifest.json") in err and "1.25" in err, err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("crop_enlarge: 1.1\n")
    err = fails(train_args(prepared, tmp_path / "x") + ["--config", str(cfg)], capsys)
    assert str(cfg) in err and "1.1" in err and "manifest.json" in err, err
    # data prepared at 64 px, network input 128: refused, naming both
    err = fails(train_args(prepared, tmp_path / "x", "--set", "input_size=128"), capsys)
    assert "64" in err and "--set input_size=128" in err and "manifest.json" in err, err
    assert not (tmp_path / "x").exists()


def test_crop_rule_helpers(tmp_path):
    box = np.array([[0.2, 0.1], [0.7, 0.5], [0.4, 0.3]])  # long side 0.5 -> ratio 2
    entries = [("a", box), ("b", box * 0.5), ("c", (box - 0.2) * 0.8 + 0.2), ("d", np.full((3, 2), np.nan))]
    value, n = measured_enlarge(entries)
    assert n == 3 and value == pytest.approx(2.5)  # ratios 2, 4, 2.5
    assert check_input_size({"input_size": 64}, tmp_path, 64) is None
    assert "resized to input_size 32" in check_input_size({"input_size": 64}, tmp_path, 32)
    with pytest.raises(UserError, match="prepared at 64 px but input_size is 96"):
        check_input_size({"input_size": 64}, tmp_path, 96)


def test_empty_test_split_is_explained(prepared, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    (data / "test.txt").write_text("")
    err = fails(train_args(data, tmp_path / "x"), capsys)
    assert str(data / "test.txt") in err and "validation needs test samples" in err, err
