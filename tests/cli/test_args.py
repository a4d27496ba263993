"""Small contracts of the command line (issue 23, items 1 and 6): a GPU that is not there, a mistyped
flag, negative numbers, an image without faces, `prepare --quiet` and the prediction filters, and
the docs' names for the samples of extra faces (docs/training.md)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.cli import main
from pipnet106.errors import UserError
from pipnet106.data.prepare import prepare
from pipnet106.synth.faces import render_face

ROOT = Path(__file__).resolve().parents[2]
PAIR = ROOT / "tests" / "fixtures" / "pair2.jpg"
from pipnet106.constants import STARTER_PT


def _usage_error(argv: list[str], capsys, command: str) -> str:
    """argparse's refusal in `command`'s own usage (exit 2) -> its error line."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2
    assert err[0].startswith(f"usage: pipnet106 {command} ") and "Traceback" not in "\n".join(err)
    assert err[-1].startswith(f"pipnet106 {command}: error: "), err[-1]
    return err[-1]


def _one_line(argv: list[str], capsys, rc: int) -> str:
    """Exit code `rc` and exactly one line of output in all (no traceback) -> that line."""
    got = main(argv)
    out, err = capsys.readouterr()
    lines = [ln for ln in (out + err).splitlines() if ln.strip()]
    assert got == rc and len(lines) == 1, (got, lines)
    return lines[0]


# ---------------------------------------------------------------- --device

@pytest.mark.torch
def test_a_device_that_is_not_there_is_one_line(tmp_path, capsys, monkeypatch):
    """`--device cuda` on a machine without a GPU ended in a traceback from inside torch."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "o"
    base = ["predict", str(PAIR), "--weights", str(STARTER_PT), "--out", str(out), "--device"]
    line = _one_line(base + ["cuda"], capsys, rc=2)
    assert line.startswith("pipnet106: error: --device cuda: PyTorch finds no CUDA GPU") and "--device cpu" in line
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert "has 1 CUDA GPU(s)" in _one_line(base + ["cuda:1"], capsys, rc=2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert "--device mps: PyTorch finds no Apple GPU" in _one_line(base + ["mps"], capsys, rc=2)
    assert not out.exists()


def test_a_device_name_that_means_nothing_is_refused_by_argparse(tmp_path, capsys):
    line = _usage_error(["predict", str(PAIR), "--device", "gpu0", "--out", str(tmp_path / "o")], capsys, "predict")
    assert line.endswith("argument --device: unknown device 'gpu0'; use cpu, cuda, cuda:N or mps")


# ---------------------------------------------------------------- mistyped flags and bad numbers

@pytest.mark.parametrize("argv, command, hint", [
    (["predict", "x.jpg", "--wieghts", "w.onnx"], "predict", "--wieghts w.onnx (did you mean --weights?)"),
    (["predict", "x.jpg", "--max-fcaes=2"], "predict", "--max-fcaes=2 (did you mean --max-faces?)"),
    (["prepare", "src", "--out", "o", "--qiuet"], "prepare", "--qiuet (did you mean --quiet?)"),
    (["predict", "x.jpg", "--zzzz"], "predict", "unrecognized arguments: --zzzz"),
])
def test_a_mistyped_flag_shows_the_command_usage_and_the_close_match(argv, command, hint, capsys):
    line = _usage_error(argv, capsys, command)
    assert line.endswith(hint), line
    if "did you mean" not in hint:
        assert "did you mean" not in line  # nothing close: no guess


@pytest.mark.parametrize("flag, value, want", [
    ("--max-faces", "-1", "must be 0 or more, got -1"),
    ("--max-faces", "two", "expected a whole number, got 'two'"),
    ("--min-face-size", "-5", "must be 0 or more, got -5"),
    ("--min-face-size", "nan", "must be 0 or more, got nan"),
    ("--refine", "-1", "must be 0 or more, got -1"),
    ("--threads", "-2", "must be 0 or more, got -2"),
])
def test_negative_numbers_are_refused_naming_the_flag(flag, value, want, tmp_path, capsys):
    """`--max-faces -1` named the Python class (Landmarker) instead of the flag."""
    line = _usage_error(["predict", str(PAIR), flag, value, "--out", str(tmp_path / "o")], capsys, "predict")
    assert line == f"pipnet106 predict: error: argument {flag}: {want}"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag, value, want", [
    ("--min-conf", "1.5", "must be in [0, 1], got 1.5"),
    ("--workers", "-1", "must be 0 or more, got -1"),
    ("--size", "4", "must be 8 or more, got 4"),
    ("--enlarge", "0", "must be more than 0, got 0"),
])
def test_prepare_numbers_are_refused_naming_the_flag(flag, value, want, tmp_path, capsys):
    line = _usage_error(["prepare", str(tmp_path), "--out", str(tmp_path / "o"), flag, value], capsys, "prepare")
    assert line == f"pipnet106 prepare: error: argument {flag}: {want}"


# ---------------------------------------------------------------- an image without faces

def test_an_image_without_faces_is_one_line_and_exit_code_1(tmp_path, capsys):
    """It printed "0 face(s) -> noise.json" and then "error: no face found"."""
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8))
    out = tmp_path / "o"
    line = _one_line(["predict", str(noise), "--out", str(out)], capsys, rc=1)
    assert line == f"pipnet106: error: {noise}: no face found ({out / 'noise.json'} records none)"
    rec = json.loads((out / "noise.json").read_text())
    assert rec["faces"] == [] and rec["width"] == 320  # the record a folder run writes for it
    line = _one_line(["predict", str(PAIR), "--out", str(out)], capsys, rc=0)
    assert line == f"predict: 2 faces -> {out / 'pair2.json'}"


# ---------------------------------------------------------------- prepare: --quiet and prediction filters

FACES = [  # (mean point confidence, reliable) of the three faces of one prediction record
    (0.9, True),
    (0.14, False),  # the 18 px face nobody would label
    (0.7, False),
]


@pytest.fixture()
def predictions(tmp_path) -> Path:
    """A predictions.jsonl as `predict` writes it: one photo, three faces with `conf` and `reliable`."""
    rng = np.random.default_rng(5)
    image, pts = render_face(rng, 256, 256, yaw=0, roll=0, scale=0.6)
    cv2.imwrite(str(tmp_path / "photo.jpg"), image)
    faces = [{"box": [0, 0, 10, 10], "score": 0.9, "layout": "lapa106",
              "points": (pts + k).round(2).tolist(), "conf": [conf] * 106, "reliable": ok}
             for k, (conf, ok) in enumerate(FACES)]
    rec = {"image": "photo.jpg", "source": str(tmp_path / "photo.jpg"), "width": 256, "height": 256, "faces": faces}
    jl = tmp_path / "predictions.jsonl"
    jl.write_text(json.dumps(rec) + "\n")
    return jl


def _prepare(jl: Path, out: Path, *extra: str) -> list[str]:
    argv = ["prepare", str(jl), "--out", str(out), "--crop", "face", "--size", "64", "--test-frac", "0",
            "--workers", "0", *extra]
    assert main(argv) == 0
    return sorted(s["label"] for s in json.loads((out / "manifest.json").read_text())["samples"])


def test_prepare_quiet_keeps_the_one_line_summary(predictions, tmp_path, capsys):
    """--quiet printed nothing, not even how many samples went in."""
    out = tmp_path / "quiet"
    _prepare(predictions, out, "--quiet")
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert lines == [f"prepared 3 samples (train 3, test 0), 0 skipped, 0 faces filtered -> {out}"]


@pytest.mark.parametrize("extra, kept, filtered", [
    ([], [0, 1, 2], ""),
    (["--min-conf", "0.5"], [0, 2], "filtered 1 predicted faces: mean confidence < 0.5: 1"),
    (["--reliable-only"], [0], "filtered 2 predicted faces: not reliable: 2"),
    (["--min-conf", "0.8", "--quiet"], [0], "prepared 1 samples (train 1, test 0), 0 skipped, 2 faces filtered"),
])
def test_prepare_filters_unreliable_predicted_faces(predictions, tmp_path, capsys, extra, kept, filtered):
    """Predictions imported every face, also an 18 px face at confidence 0.14."""
    labels = _prepare(predictions, tmp_path / "data", *extra)
    assert labels == [f"{predictions}:1 face {k}" for k in kept]
    out = capsys.readouterr().out
    assert filtered in out
    if not filtered:
        assert "filtered" not in out.replace("0 faces filtered", "")


def test_prepare_filters_need_predictions(predictions, tmp_path, capsys):
    folder = tmp_path / "labelled"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((64, 64, 3), np.uint8))
    (folder / "a.txt").write_text("".join(f"{10 + i % 40} {10 + i % 30}\n" for i in range(106)))
    assert main(["prepare", str(folder), "--out", str(tmp_path / "o"), "--reliable-only", "--quiet"]) == 2
    assert "--reliable-only filter the faces of predictions" in capsys.readouterr().err
    assert main(["prepare", str(predictions), "--out", str(tmp_path / "o"), "--min-conf", "0.95", "--quiet"]) == 2
    assert "every face" in capsys.readouterr().err and not (tmp_path / "o").exists()
    with pytest.raises(UserError, match=r"min_conf must be in \[0, 1\]"):  # the API checks it too
        prepare(predictions, tmp_path / "o", min_conf=1.5)


# ---------------------------------------------------------------- docs: names of extra faces

def test_docs_name_the_crops_of_extra_faces_as_prepare_writes_them(predictions, tmp_path):
    """The README said `<stem>_face1`; the crops are `<stem>__2.jpg`, `<stem>__3.jpg`, ... (the text now
    lives in docs/training.md, "Predictions back into training")."""
    out = tmp_path / "data"
    _prepare(predictions, out, "--quiet")
    assert sorted(p.name for p in (out / "images").iterdir()) == ["photo.jpg", "photo__2.jpg", "photo__3.jpg"]
    page = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    section = page[page.index("## Predictions back into training"):]
    end = section.find("\n## ")
    section = section if end < 0 else section[:end]
    text = " ".join(section.split())
    files = text[text.index("every face becomes a sample"):text.index("`--train-list`")]
    assert "`images/<stem>.jpg`, `images/<stem>__2.jpg`" in files and "_face1" not in files


@pytest.mark.torch
@pytest.mark.parametrize("command", ["eval", "train"])
def test_eval_and_train_name_a_missing_gpu_in_one_line(tmp_path, capsys, monkeypatch, command):
    """`eval --device cuda` and `train --set device=cuda` on a machine without a GPU ended in a
    traceback from inside torch; now the same one line as `predict`."""
    import torch

    from pipnet106.synth.faces import generate_dataset

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    generate_dataset(tmp_path / "raw", 6, seed=0)
    assert main(["prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "prep"), "--size", "64", "--quiet"]) == 0
    capsys.readouterr()
    if command == "eval":
        args = ["eval", "--weights", str(STARTER_PT), "--data", str(tmp_path / "prep"), "--device", "cuda"]
    else:
        args = ["train", "--data", str(tmp_path / "prep"), "--out", str(tmp_path / "run"), "--set", "device=cuda",
                "--set", "input_size=64", "--set", "epochs=1"]
    line = _one_line(args, capsys, rc=2)
    assert line.startswith("pipnet106: error: --device cuda: PyTorch finds no CUDA GPU"), line
