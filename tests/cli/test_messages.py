"""Messages that tell the truth: each case is one line naming the real problem (issue 12, items 6 and 11)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipnet106.cli import main
from pipnet106.errors import UserError
from pipnet106.synth.faces import generate_dataset

ROOT = Path(__file__).resolve().parents[2]
GROUP = ROOT / "tests" / "fixtures" / "group4.jpg"


def _one_line_error(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pipnet106: error:"), err
    return err[0]


def test_predict_layout_is_checked_for_the_starter_too(tmp_path, capsys):
    msg = _one_line_error(["predict", str(GROUP), "--layout", "foo", "--out", str(tmp_path / "a")], capsys)
    assert "foo" in msg
    msg = _one_line_error(["predict", str(GROUP), "--layout", "ibug68", "--out", str(tmp_path / "b")], capsys)
    assert "ibug68" in msg and "lapa106" in msg
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_negative_refine_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:  # argparse refuses it, in predict's usage
        main(["predict", str(GROUP), "--refine", "-1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[-1] == "pipnet106 predict: error: argument --refine: must be 0 or more, got -1"
    # the Python API refuses it too, in one line naming the argument
    from pipnet106 import Landmarker

    for kw in ({"refine": -1}, {"max_faces": -2}, {"min_face_size": -5.0}):
        with pytest.raises(UserError, match=f"{next(iter(kw))} must be 0 or more"):
            Landmarker.default(**kw)


def test_command_without_torch_says_torch_is_needed(tmp_path):
    """With only the ONNX extra installed, `train --config ...` names the missing package
    (it used to fail with "unrecognized arguments: --config ...")."""
    code = ("import sys; sys.modules['torch'] = None; from pipnet106.cli import main; "
            "sys.exit(main(['train', '--config', 'c.yaml', '--data', 'd', '--out', 'r', '--set', 'epochs=1']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert "'train' needs the Python package 'torch'" in err[0] and "unrecognized" not in err[0]


def test_unknown_arguments_still_refused_when_the_command_is_available(capsys):
    with pytest.raises(SystemExit) as e:
        main(["show", "somewhere", "--out", "x", "--bogus"])
    assert e.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_show_draws_index_numbers_by_default(tmp_path, capsys):
    generate_dataset(tmp_path / "src", 1, seed=3, size_range=(200, 200), exts=(".png",))
    outs = {}
    for name, extra in (("default", []), ("numbers", ["--numbers"]), ("plain", ["--no-numbers"])):
        assert main(["show", str(tmp_path / "src"), "--out", str(tmp_path / name), *extra]) == 0
        (png,) = sorted((tmp_path / name).glob("*.png"))
        outs[name] = png.read_bytes()
    assert outs["default"] == outs["numbers"] and outs["default"] != outs["plain"]


# ------------------------------------------------------------------ eval (needs torch)

@pytest.fixture()
def prepared(tmp_path):
    from pipnet106.data.prepare import prepare

    generate_dataset(tmp_path / "src", 6, seed=1, size_range=(160, 200))
    prepare(tmp_path / "src", tmp_path / "data", size=128, crop="face", test_frac=0.5, progress=False, verbose=False)
    return tmp_path / "data"


@pytest.mark.torch
def test_eval_names_the_layout_mismatch(prepared, tmp_path, capsys):
    from pipnet106.models.checkpoint import make_checkpoint
    from pipnet106.config import Config
    from pipnet106.fileio import atomic_torch_save
    from pipnet106.data.meanface import neighbors
    from pipnet106.models import build_model

    cfg = Config.from_dict(dict(layout="ibug68", input_size=64, backbone="mobilenet_v2", width=320, net_stride=32,
                                num_nb=4))
    mf = np.random.default_rng(0).uniform(0.2, 0.8, (68, 2))
    ck = atomic_torch_save(tmp_path / "ibug.pt", make_checkpoint(build_model(cfg, warn_scratch=False), cfg, mf,
                                                                 neighbors(mf, 4)))
    msg = _one_line_error(["eval", "--weights", str(ck), "--data", str(prepared), "--out", str(tmp_path / "e")], capsys)
    assert "ibug.pt" in msg and "ibug68" in msg and "lapa106" in msg and "too long" not in msg
    assert not (tmp_path / "e").exists()


@pytest.mark.torch
def test_eval_accepts_the_starter_like_train_init(prepared, tmp_path, capsys):
    out = tmp_path / "e"
    assert main(["eval", "--weights", "starter", "--data", str(prepared), "--out", str(out)]) == 0
    assert "NME" in capsys.readouterr().out
    rep = json.loads((out / "eval.json").read_text())
    assert rep["num_samples"] == 3 and 0 < rep["nme"] < 1


@pytest.mark.torch
def test_eval_default_report_folder_never_lands_in_the_package(prepared, tmp_path, monkeypatch, capsys):
    """Without --out the report goes next to the user's weights, one folder per model; for the shipped
    starter (by name or by its path inside the installed package) into the current folder."""
    from pipnet106.cli.eval import default_out
    from pipnet106.constants import STARTER_ONNX

    monkeypatch.chdir(tmp_path)
    assert default_out(str(tmp_path / "run" / "best.pt"), "test") == tmp_path / "run" / "eval_best_test"
    assert default_out("run/model_int8.onnx", "test") != default_out("run/model.onnx", "test")
    assert default_out(str(STARTER_ONNX), "test") == Path("eval_starter_test")
    assert main(["eval", "--weights", "starter", "--data", str(prepared)]) == 0
    assert (tmp_path / "eval_starter_test" / "eval.json").is_file()
    assert not list(STARTER_ONNX.parent.glob("eval_*"))


def test_a_closed_output_pipe_ends_quietly():
    """`pipnet106 retouch --list | head -1`: the reader closes the pipe early. That is not the user's
    error: no 'error: broken pipe' line, no traceback at exit, exit code 141 (128 + SIGPIPE) as a
    shell reports it. The pipe's read end is closed before the command starts, so its first write
    fails: no race with the reader."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([sys.executable, "-m", "pipnet106", "retouch", "--list"], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr
