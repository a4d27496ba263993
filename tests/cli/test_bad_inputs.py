"""A catalogue of bad inputs across prepare, train, eval, export, predict and the Python API.

Each case asserts the exit code, one line that names the file and says what is wrong, no
traceback, and nothing half-written. Inputs that are unusual but valid (CMYK, 16-bit, RGBA,
EXIF-rotated, non-ASCII names, labels with commas, a BOM, CRLF or all numbers on one line) must
simply work, with the points where they belong.
"""
from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.cli import main
from pipnet106.crop import CropTransform
from pipnet106.errors import SampleError, UserError
from pipnet106.fileio import read_image
from pipnet106.data.formats import read_list
from pipnet106.synth.faces import format_points, render_face

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAIR = FIXTURES / "pair2.jpg"  # 2 faces
N = 106


# ---------------------------------------------------------------- helpers

def one_line_error(argv: list[str], capfd, name: str, rc: int = 2) -> str:
    """Run the CLI in-process: exit code `rc`, exactly one `pipnet106: error:` line naming `name`,
    nothing else on stderr but progress bars (captured at the file descriptor, so a C library
    printing its own complaint fails the test too), and no traceback."""
    capfd.readouterr()
    got = main(argv)
    out, err = capfd.readouterr()
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and "%|" not in ln]
    assert got == rc, (got, err)
    assert "Traceback" not in err + out
    assert len(lines) == 1 and lines[0].startswith("pipnet106: error:"), lines
    assert name in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temp files, staging folders or partial outputs under `folder`."""
    if not folder.exists():
        return []
    return [str(p) for p in folder.rglob("*")
            if p.name.endswith((".tmp", ".part")) or p.name.startswith(".prepare-")]


def empty_or_absent(folder: Path) -> bool:
    return not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))


def face(seed: int, w: int = 160, h: int = 150) -> tuple[np.ndarray, np.ndarray]:
    img, pts = render_face(np.random.default_rng(seed), w, h)
    return img, np.asarray(pts, dtype=np.float64)


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares width x height RGB pixels but holds almost no data (a few hundred bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                     + chunk(b"IEND", b""))


def exif_rotated_jpeg(path: Path, upright_bgr: np.ndarray) -> None:
    """Stored turned a quarter counter-clockwise, EXIF orientation 6: a viewer shows it upright."""
    from PIL import Image

    stored = cv2.rotate(upright_bgr, cv2.ROTATE_90_COUNTERCLOCKWISE)
    im = Image.fromarray(np.ascontiguousarray(stored[:, :, ::-1]))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(path, quality=95, exif=exif)


def cmyk_jpeg(path: Path, bgr: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).convert("CMYK").save(path, quality=95)


def tiny_checkpoint(path: Path, layout: str) -> Path:
    """An untrained 64-px checkpoint of `layout` (enough to load, predict, evaluate, export)."""
    from pipnet106.models.checkpoint import make_checkpoint
    from pipnet106.config import Config
    from pipnet106.fileio import atomic_torch_save
    from pipnet106.layout import get_layout
    from pipnet106.data.meanface import neighbors
    from pipnet106.models import build_model

    cfg = Config(layout=layout, input_size=64, width=320, num_nb=4)
    mf = np.random.default_rng(0).uniform(0.2, 0.8, (get_layout(layout).num_points, 2))
    atomic_torch_save(path, make_checkpoint(build_model(cfg, warn_scratch=False), cfg, mf, neighbors(mf, 4)))
    return path


# ---------------------------------------------------------------- prepare: one run over a folder of odd samples

# name -> (what the case is, expected outcome). "ok" samples must be prepared with exact points;
# skipped ones must be reported with the file and reason.
OK, SKIP = "ok", "skip"


def _write_prepare_cases(src: Path) -> dict:
    src.mkdir(parents=True)
    cases = {}

    def label(stem: str, pts: np.ndarray, text: str | None = None, data: bytes | None = None) -> None:
        if data is None:
            data = (text if text is not None else format_points(pts)).encode("utf-8")
        (src / f"{stem}.txt").write_bytes(data)

    img, pts = face(1)
    cv2.imwrite(str(src / "plain.jpg"), img)
    label("plain", pts)
    cases["plain"] = (OK, "plain.jpg", img, pts)

    img, pts = face(2)
    cmyk_jpeg(src / "cmyk.jpg", img)
    label("cmyk", pts)
    cases["CMYK JPEG"] = (OK, "cmyk.jpg", img, pts)

    img, pts = face(3)
    cv2.imwrite(str(src / "deep.png"), img.astype(np.uint16) * 257)
    label("deep", pts)
    cases["16-bit PNG"] = (OK, "deep.png", img, pts)

    img, pts = face(4)
    cv2.imwrite(str(src / "alpha.png"), cv2.cvtColor(img, cv2.COLOR_BGR2BGRA))
    label("alpha", pts)
    cases["RGBA PNG"] = (OK, "alpha.png", img, pts)

    img, pts = face(5, 150, 190)
    exif_rotated_jpeg(src / "turned.jpg", img)
    label("turned", pts)  # labels are drawn on the photo as a viewer shows it
    cases["EXIF-rotated JPEG"] = (OK, "turned.jpg", img, pts)

    img, pts = face(6)
    cv2.imwrite(str(src / "фото_é.png"), img)
    label("фото_é", pts)
    cases["non-ASCII file name"] = (OK, "фото_é.png", img, pts)

    img, pts = face(7)
    cv2.imwrite(str(src / "commas.png"), img)
    label("commas", pts, "".join(f"{x:.4f}, {y:.4f}\n" for x, y in pts))
    cases["label with commas"] = (OK, "commas.png", img, pts)

    img, pts = face(8)
    cv2.imwrite(str(src / "bom.png"), img)
    label("bom", pts, "\ufeff" + format_points(pts))
    cases["label with a BOM"] = (OK, "bom.png", img, pts)

    img, pts = face(9)
    cv2.imwrite(str(src / "crlf.png"), img)
    label("crlf", pts, format_points(pts).replace("\n", "\r\n"))
    cases["label with CRLF"] = (OK, "crlf.png", img, pts)

    img, pts = face(10)
    cv2.imwrite(str(src / "oneline.png"), img)
    label("oneline", pts, " ".join(f"{v:.4f}" for v in pts.reshape(-1)) + "\n")
    cases["212 numbers on one line"] = (OK, "oneline.png", img, pts)

    img, pts = face(11)
    cv2.imwrite(str(src / "tiny.png"), img[:1, :1])
    label("tiny", pts)
    cases["1x1 image"] = (SKIP, "tiny.txt", "all points outside image", "1x1")

    png_header_only(src / "huge.png", 20000, 20000)
    label("huge", pts)
    cases["20000x20000 PNG"] = (SKIP, "huge.png", "unreadable image", "20000x20000")

    ok, buf = cv2.imencode(".jpg", face(12)[0])
    (src / "cut.jpg").write_bytes(buf.tobytes()[: len(buf) // 2])
    label("cut", pts)
    cases["truncated JPEG"] = (SKIP, "cut.jpg", "unreadable image", "truncated")

    ok, buf = cv2.imencode(".png", face(13)[0])
    (src / "cutpng.png").write_bytes(buf.tobytes()[: len(buf) // 2])
    label("cutpng", pts)
    cases["truncated PNG"] = (SKIP, "cutpng.png", "unreadable image", "truncated")

    img, pts = face(14)
    cv2.imwrite(str(src / "dup.jpg"), img)
    cv2.imwrite(str(src / "dup.png"), face(15)[0])
    label("dup", pts)
    cases["duplicate stems (jpg)"] = (SKIP, "dup.jpg", "ambiguous label", "dup.txt")
    cases["duplicate stems (png)"] = (SKIP, "dup.png", "ambiguous label", "dup.txt")

    img, pts = face(16)
    cv2.imwrite(str(src / "latin.png"), img)
    label("latin", pts, data=format_points(pts).replace("1", "\xb9").encode("latin-1"))
    cases["label not UTF-8"] = (SKIP, "latin.txt", "non-numeric value", "line")
    return cases


@pytest.fixture(scope="module")
def prepared_cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("prep")
    src = root / "données"  # the whole source folder has a non-ASCII name too
    cases = _write_prepare_cases(src)
    out = root / "out"
    import subprocess
    import sys

    # a child process, so output printed by C libraries (libjpeg, libpng) is seen too
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    res = subprocess.run([sys.executable, "-m", "pipnet106", "prepare", str(src), "--out", str(out), "--size", "64",
                          "--crop", "face", "--test-frac", "0", "--workers", "0"],
                         capture_output=True, text=True, env=env, timeout=300)
    return cases, out, res


def test_prepare_catalogue_exit_code_and_no_leftovers(prepared_cases):
    cases, out, res = prepared_cases
    assert res.returncode == 1, res.stderr  # written, but some samples skipped
    assert "Traceback" not in res.stdout + res.stderr
    noise = [ln for ln in res.stderr.replace("\r", "\n").splitlines()
             if ln.strip() and "%|" not in ln and not ln.startswith("pipnet106: warning:")]
    assert noise == [], noise  # no decoder chatter, nothing but progress and our one-line warnings
    assert leftovers(out) == []
    n_skip = sum(1 for c in cases.values() if c[0] == SKIP)
    assert f"skipped {n_skip}" in res.stdout


@pytest.mark.parametrize("case", [
    "plain", "CMYK JPEG", "16-bit PNG", "RGBA PNG", "EXIF-rotated JPEG", "non-ASCII file name",
    "label with commas", "label with a BOM", "label with CRLF", "212 numbers on one line"])
def test_prepare_accepts(prepared_cases, case):
    cases, out, res = prepared_cases
    _, name, upright, pts = cases[case]
    manifest = json.loads((out / "manifest.json").read_text())
    (s,) = [s for s in manifest["samples"] if Path(s["source"]).name == name]
    tf = CropTransform.from_dict(s["transform"])
    listed = dict(read_list(out / "train.txt", N))[s["image"]]
    np.testing.assert_allclose(tf.to_source(listed * 64), pts, atol=1e-3)  # labels kept exactly
    crop = read_image(out / s["image"]).astype(np.float32)
    want = tf.apply(upright).astype(np.float32)  # the crop of the image as a viewer shows it
    assert np.abs(crop - want).mean() < 4.0, case  # JPEG/CMYK round trips only


@pytest.mark.parametrize("case", [
    "1x1 image", "20000x20000 PNG", "truncated JPEG", "truncated PNG", "duplicate stems (jpg)",
    "duplicate stems (png)", "label not UTF-8"])
def test_prepare_skips_with_reason(prepared_cases, case):
    cases, out, res = prepared_cases
    _, name, reason, detail = cases[case]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("skip ") and f"{name}:" in ln]
    assert len(lines) == 1, (name, res.stdout)
    assert f"{name}: {reason}" in lines[0] and detail in lines[0], lines[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert not [s for s in manifest["samples"] if Path(s["source"]).name == name]


# ---------------------------------------------------------------- prepare: fatal errors

def _good_source(folder: Path) -> Path:
    folder.mkdir(parents=True)
    img, pts = face(20)
    cv2.imwrite(str(folder / "a.png"), img)
    (folder / "a.txt").write_text(format_points(pts))
    return folder


def test_prepare_output_inside_a_file(tmp_path, capfd):
    src = _good_source(tmp_path / "src")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(["prepare", str(src), "--out", str(blocker / "out"), "--quiet"], capfd, str(blocker / "out"))
    assert blocker.read_text() == "x"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_prepare_read_only_output_folder(tmp_path, capfd):
    src = _good_source(tmp_path / "src")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        one_line_error(["prepare", str(src), "--out", str(ro / "out"), "--quiet"], capfd, str(ro / "out"))
    finally:
        ro.chmod(0o755)
    assert empty_or_absent(ro)


def test_read_only_output_when_writing(tmp_path, capfd, monkeypatch):
    """The write itself refused (read-only folder, also for root): one line naming the file, no temp left."""
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", k.get("dir"))

    src = _good_source(tmp_path / "src")
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    one_line_error(["prepare", str(src), "--out", str(tmp_path / "out"), "--quiet", "--workers", "0"], capfd,
                   str(tmp_path / "out"))
    assert leftovers(tmp_path / "out") == []


def test_prepare_jsonl_with_broken_line(tmp_path, capfd):
    img, pts = face(21)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    good = json.dumps({"image": "a.png", "points": pts.tolist()})
    (tmp_path / "labels.jsonl").write_text(good + "\n{\"image\": \"a.png\", \"points\": [1, 2\n")
    msg = one_line_error(["prepare", str(tmp_path / "labels.jsonl"), "--out", str(tmp_path / "out"), "--quiet"],
                         capfd, "labels.jsonl:2")
    assert "not valid JSON" in msg
    assert empty_or_absent(tmp_path / "out")


def test_prepare_missing_source(tmp_path, capfd):
    one_line_error(["prepare", str(tmp_path / "nope"), "--out", str(tmp_path / "out")], capfd, "nope")
    assert empty_or_absent(tmp_path / "out")


# ---------------------------------------------------------------- train, eval, export

@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    from pipnet106.data.prepare import prepare
    from pipnet106.synth.faces import generate_dataset

    root = tmp_path_factory.mktemp("kit")
    generate_dataset(root / "src", 8, seed=1, size_range=(96, 128))
    prepare(root / "src", root / "prep", size=64, crop="face", test_frac=0.25, workers=0, progress=False,
            verbose=False)
    junk = root / "junk.pt"
    junk.write_bytes(b"PK\x03\x04" + os.urandom(200))  # looks like a zip (a torch checkpoint) but is not
    return {"prep": root / "prep", "lapa": tiny_checkpoint(root / "lapa.pt", "lapa106"),
            "ibug": tiny_checkpoint(root / "ibug.pt", "ibug68"), "junk": junk, "root": root}


TRAIN = ["--set", "input_size=64", "--set", "width=320", "--set", "epochs=1", "--set", "device=cpu",
         "--set", "workers=0", "--set", "batch_size=2"]


@pytest.mark.torch
def test_train_config_key_typo_suggests_the_key(kit, tmp_path, capfd):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("input_size: 64\nepoch: 3\nbatchsize: 4\n")
    msg = one_line_error(["train", "--config", str(cfg), "--data", str(kit["prep"]), "--out", str(tmp_path / "run")],
                         capfd, "cfg.yaml")
    assert "epoch (did you mean epochs?)" in msg and "batchsize (did you mean batch_size?)" in msg
    assert empty_or_absent(tmp_path / "run")


@pytest.mark.torch
def test_train_init_of_another_layout(kit, tmp_path, capfd):
    msg = one_line_error(["train", "--data", str(kit["prep"]), "--out", str(tmp_path / "run"),
                          "--init", str(kit["ibug"]), *TRAIN], capfd, "ibug.pt")
    assert "ibug68" in msg and "lapa106" in msg
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.torch
def test_train_init_corrupt_checkpoint(kit, tmp_path, capfd):
    one_line_error(["train", "--data", str(kit["prep"]), "--out", str(tmp_path / "run"), "--init", str(kit["junk"]),
                    *TRAIN], capfd, "junk.pt")
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.torch
def test_train_on_a_folder_that_is_not_prepared(kit, tmp_path, capfd):
    raw = tmp_path / "photos"
    raw.mkdir()
    (raw / "a.jpg").write_bytes(PAIR.read_bytes())
    one_line_error(["train", "--data", str(raw), "--out", str(tmp_path / "run"), *TRAIN], capfd, "photos")
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.torch
def test_eval_checkpoint_of_another_layout(kit, tmp_path, capfd):
    msg = one_line_error(["eval", "--weights", str(kit["ibug"]), "--data", str(kit["prep"]), "--out",
                          str(tmp_path / "ev")], capfd, "ibug.pt")
    assert "ibug68" in msg and "lapa106" in msg and "File name too long" not in msg  # the manifest's layout
    assert empty_or_absent(tmp_path / "ev")


@pytest.mark.torch
def test_eval_corrupt_checkpoint(kit, tmp_path, capfd):
    one_line_error(["eval", "--weights", str(kit["junk"]), "--data", str(kit["prep"]), "--out", str(tmp_path / "ev")],
                   capfd, "junk.pt")
    assert empty_or_absent(tmp_path / "ev")


@pytest.mark.torch
def test_export_missing_weights(tmp_path, capfd):
    one_line_error(["export", "--weights", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")], capfd,
                   "none.pt")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.torch
def test_export_an_onnx_file_as_weights(tmp_path, capfd):
    from pipnet106.constants import STARTER_ONNX

    one_line_error(["export", "--weights", str(STARTER_ONNX), "--out", str(tmp_path / "m.onnx")], capfd,
                   "starter.onnx")
    assert empty_or_absent(tmp_path)


@pytest.mark.torch
def test_export_into_unwritable_place(kit, tmp_path, capfd):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(["export", "--weights", str(kit["lapa"]), "--out", str(blocker / "m.onnx")], capfd,
                   str(blocker / "m.onnx"))
    assert blocker.read_text() == "x"
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- predict

def test_predict_corrupt_onnx(tmp_path, capfd):
    from pipnet106.constants import STARTER_ONNX

    cut = tmp_path / "cut.onnx"
    cut.write_bytes(STARTER_ONNX.read_bytes()[:50_000])
    one_line_error(["predict", str(PAIR), "--weights", str(cut), "--out", str(tmp_path / "o")], capfd, "cut.onnx")
    assert empty_or_absent(tmp_path / "o")


def test_predict_onnx_without_our_metadata(tmp_path, capfd):
    from onnx import TensorProto, helper, save

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    other = tmp_path / "other.onnx"
    save(helper.make_model(graph), other)
    msg = one_line_error(["predict", str(PAIR), "--weights", str(other), "--out", str(tmp_path / "o")], capfd,
                         "other.onnx")
    assert "metadata" in msg
    assert empty_or_absent(tmp_path / "o")


@pytest.mark.torch
def test_predict_checkpoint_of_another_layout(kit, tmp_path, capfd):
    msg = one_line_error(["predict", str(PAIR), "--weights", str(kit["ibug"]), "--out", str(tmp_path / "o")],
                         capfd, "ibug.pt")
    assert "ibug68" in msg
    assert empty_or_absent(tmp_path / "o")


def test_predict_zero_frame_video(tmp_path, capfd):
    path = tmp_path / "zero.mp4"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
    vw.release()  # a container with no frames
    if not path.exists():
        path.write_bytes(b"")
    one_line_error(["predict", str(path), "--out", str(tmp_path / "o")], capfd, "zero.mp4")
    assert empty_or_absent(tmp_path / "o")


@pytest.mark.parametrize("kind", ["not an image", "20000x20000 header", "truncated JPEG"])
def test_predict_single_unreadable_image_exits_1(tmp_path, capfd, kind):
    path = tmp_path / "photo.png"
    if kind == "not an image":
        path.write_text("hello")
    elif kind == "truncated JPEG":
        path = tmp_path / "photo.jpg"
        path.write_bytes(PAIR.read_bytes()[:5000])
    else:
        png_header_only(path, 20000, 20000)
    msg = one_line_error(["predict", str(path), "--out", str(tmp_path / "o")], capfd, path.name, rc=1)
    assert "unreadable image" in msg
    assert empty_or_absent(tmp_path / "o")


def test_predict_1x1_image_has_no_face(tmp_path, capfd):
    path = tmp_path / "dot.png"
    cv2.imwrite(str(path), np.zeros((1, 1, 3), np.uint8))
    msg = one_line_error(["predict", str(path), "--out", str(tmp_path / "o")], capfd, "dot.png", rc=1)
    assert "no face" in msg


def test_predict_output_inside_a_file(tmp_path, capfd):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(["predict", str(PAIR), "--out", str(blocker / "o")], capfd, "file")
    assert blocker.read_text() == "x"


def test_predict_non_ascii_and_exif_rotated_photo(tmp_path):
    """Valid odd inputs work: a non-ASCII folder and name, and a photo stored sideways with EXIF."""
    folder = tmp_path / "фото"
    folder.mkdir()
    upright = read_image(PAIR)
    exif_rotated_jpeg(folder / "été.jpg", upright)
    assert main(["predict", str(folder / "été.jpg"), "--out", str(tmp_path / "о")]) == 0
    rec = json.loads((tmp_path / "о" / "été.json").read_text())
    assert (rec["width"], rec["height"]) == (upright.shape[1], upright.shape[0])
    from pipnet106.infer.landmarker import Landmarker

    ref = sorted(Landmarker.default().predict(upright), key=lambda f: f.box[0])
    got = sorted(rec["faces"], key=lambda f: f["box"][0])
    assert len(got) == len(ref) == 2
    for g, r in zip(got, ref):
        assert np.abs(np.asarray(g["points"]) - r.points).mean() < 3.0  # JPEG re-encoding only


# ---------------------------------------------------------------- Python API

def test_api_missing_file(lm, tmp_path):
    with pytest.raises(SampleError, match="nope.jpg: missing image"):
        lm.predict(tmp_path / "nope.jpg")


def test_api_decompression_bomb(lm, tmp_path):
    path = tmp_path / "huge.png"
    png_header_only(path, 20000, 20000)
    assert path.stat().st_size < 2000
    with pytest.raises(SampleError, match=r"huge.png: unreadable image \(20000x20000 pixels"):
        lm.predict(path)


def test_api_corrupt_onnx(tmp_path):
    from pipnet106.infer.landmarker import Landmarker

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07" + os.urandom(300))
    with pytest.raises(UserError, match="bad.onnx"):
        Landmarker.from_onnx(bad)


def test_api_empty_and_tiny_arrays(lm):
    with pytest.raises(UserError, match="image array"):
        lm.predict(np.zeros((0, 0, 3), np.uint8))
    assert lm.predict(np.zeros((1, 1, 3), np.uint8)) == []


@pytest.mark.parametrize("array, message", [
    (np.full((40, 40, 3), 0.5, np.float32), "values in [0, 1]"),
    (np.full((40, 40, 3), np.nan, np.float64), "NaN"),
    (np.zeros((40, 40, 2), np.uint8), "2 channels"),
    (np.zeros((40, 40, 3), bool), "dtype bool"),
])
def test_api_arrays_that_would_be_guessed_at(lm, array, message):
    """A float image in [0, 1] read as 0-255 is black: refused with a hint, not silently predicted on."""
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lm.predict(array)


def test_api_float_array_in_0_255_is_the_uint8_image(lm):
    bgr = read_image(PAIR)
    a = sorted(lm.predict(bgr), key=lambda f: f.box[0])
    b = sorted(lm.predict(bgr.astype(np.float32)), key=lambda f: f.box[0])
    assert len(a) == len(b) == 2
    for fa, fb in zip(a, b):
        np.testing.assert_allclose(fa.points, fb.points, atol=1e-3)


@pytest.mark.parametrize("kind", ["CMYK JPEG", "16-bit PNG", "RGBA PNG", "gray PNG"])
def test_api_reads_unusual_encodings_as_bgr(tmp_path, kind):
    bgr = read_image(PAIR)
    path = tmp_path / ("x.jpg" if kind == "CMYK JPEG" else "x.png")
    if kind == "CMYK JPEG":
        cmyk_jpeg(path, bgr)
    elif kind == "16-bit PNG":
        cv2.imwrite(str(path), bgr.astype(np.uint16) * 257)
    elif kind == "RGBA PNG":
        cv2.imwrite(str(path), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    else:
        cv2.imwrite(str(path), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        bgr = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    got = read_image(path)
    assert got.dtype == np.uint8 and got.shape == bgr.shape
    assert np.abs(got.astype(int) - bgr).mean() < 3.0
