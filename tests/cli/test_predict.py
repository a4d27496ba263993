"""`predict` on a folder: JSONL written as it goes, a kill loses at most the image in flight,
`--resume` finishes with what an uninterrupted run writes, exit codes, and predictions that go
straight back into `prepare --format jsonl`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pipnet106.cli import main
from pipnet106.cli.predict import PAUSE_ENV
from pipnet106.crop import CropTransform
from pipnet106.data.formats import read_list

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PHOTOS = [FIXTURES / "pair2.jpg", FIXTURES / "group4.jpg"]  # 2 and 4 faces


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _folder(root: Path, n: int) -> Path:
    folder = root / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(n):
        sub = folder / "sub" if i % 3 == 0 else folder
        (sub / f"img_{i:03d}.jpg").write_bytes(PHOTOS[i % 2].read_bytes())
    return folder


def _records(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _same(a: list[dict], b: list[dict]) -> None:
    assert [r["image"] for r in a] == [r["image"] for r in b]
    for ra, rb in zip(a, b):
        assert len(ra["faces"]) == len(rb["faces"]), ra["image"]
        for fa, fb in zip(ra["faces"], rb["faces"]):
            np.testing.assert_allclose(fa["points"], fb["points"], atol=0.02)


def test_kill_then_resume_equals_uninterrupted_run(tmp_path, capsys):
    folder = _folder(tmp_path, 16)
    ref_out = tmp_path / "ref"
    assert main(["predict", str(folder), "--out", str(ref_out), "--threads", "1"]) == 0
    ref = _records(ref_out / "predictions.jsonl")
    assert len(ref) == 16 and sum(len(r["faces"]) for r in ref) == 8 * 2 + 8 * 4
    assert not (ref_out / "predictions.jsonl.part").exists()

    out = tmp_path / "killed"
    part, paused = out / "predictions.jsonl.part", out / "predictions.jsonl.paused"
    # the run stops for good after its 5th image (a hook in the folder loop), so the kill lands at a
    # known point however fast or loaded the machine is
    proc = subprocess.Popen([sys.executable, "-m", "pipnet106", "predict", str(folder), "--out", str(out),
                             "--threads", "1"], env={**_env(), PAUSE_ENV: "5"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        hung = time.monotonic() + 900  # a safety net against a hang, not a race: the run pauses, it does not end
        while not paused.exists() and proc.poll() is None and time.monotonic() < hung:
            time.sleep(0.05)  # only how often to look; nothing depends on how long this takes
        assert paused.exists(), f"the run ended (exit code {proc.returncode}) without reaching the pause"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (out / "predictions.jsonl").exists()  # an unfinished run never looks finished
    written = part.read_text().splitlines()
    assert len(written) == 5
    with open(part, "a") as f:  # a line torn by the kill (the image in flight) is dropped, not misread
        f.write('{"image": "img_0')

    capsys.readouterr()
    assert main(["predict", str(folder), "--out", str(out), "--threads", "1", "--resume"]) == 0
    assert f"resuming, {len(written)} images already done" in capsys.readouterr().out
    assert not part.exists()
    _same(_records(out / "predictions.jsonl"), ref)

    # resuming a finished run does nothing more and keeps the file
    assert main(["predict", str(folder), "--out", str(out), "--threads", "1", "--resume"]) == 0
    _same(_records(out / "predictions.jsonl"), ref)


def test_exit_codes_and_records_for_skipped_images(tmp_path, capsys):
    folder = _folder(tmp_path, 2)
    assert main(["predict", str(folder), "--out", str(tmp_path / "a")]) == 0
    (folder / "broken.jpg").write_bytes(PHOTOS[0].read_bytes()[:3000])
    (folder / "a.png").write_bytes((folder / "img_001.jpg").read_bytes())  # fine, but a JPEG named .png
    capsys.readouterr()
    assert main(["predict", str(folder), "--out", str(tmp_path / "b"), "--draw"]) == 1
    text = capsys.readouterr().out
    assert "broken.jpg: unreadable image (truncated file)" in text and "1 skipped" in text
    recs = {r["image"]: r for r in _records(tmp_path / "b" / "predictions.jsonl")}
    assert set(recs) == {"a.png", "broken.jpg", "img_001.jpg", "sub/img_000.jpg"}
    assert recs["broken.jpg"]["faces"] == [] and "truncated" in recs["broken.jpg"]["error"]
    assert len(recs["img_001.jpg"]["faces"]) == 4
    assert (tmp_path / "b" / "annotated" / "sub" / "img_000.png").is_file()


def test_annotated_names_do_not_collide(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "x.jpg").write_bytes(PHOTOS[0].read_bytes())
    import cv2

    cv2.imwrite(str(folder / "x.png"), cv2.imread(str(PHOTOS[1])))
    assert main(["predict", str(folder), "--out", str(tmp_path / "o"), "--draw"]) == 0
    ann = sorted(p.name for p in (tmp_path / "o" / "annotated").iterdir())
    assert ann == ["x.jpg.png", "x.png.png"]


def test_predictions_go_back_into_prepare(tmp_path):
    """predict -> correct a point by hand -> prepare --format jsonl: every face is a sample, with the corrected points."""
    folder = _folder(tmp_path, 2)
    assert main(["predict", str(folder), "--out", str(tmp_path / "pred")]) == 0
    jl = tmp_path / "pred" / "predictions.jsonl"
    recs = _records(jl)
    recs[0]["faces"][0]["points"][30][0] += 3.0  # a hand correction
    jl.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "prep"
    assert main(["prepare", str(jl), "--format", "jsonl", "--out", str(out), "--crop", "face", "--size", "64",
                 "--test-frac", "0", "--workers", "0", "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    want = {(r["image"], k): np.asarray(f["points"]) for r in recs for k, f in enumerate(r["faces"])}
    assert len(manifest["samples"]) == len(want) == 6
    listed = dict(read_list(out / "train.txt", 106))
    got = {}
    for s in manifest["samples"]:
        back = CropTransform.from_dict(s["transform"]).to_source(listed[s["image"]] * 64)
        match = [k for k, w in want.items() if np.abs(w - back).max() < 1e-3]
        assert len(match) == 1, s["image"]
        got[match[0]] = back
    assert set(got) == set(want)

    # a single image's JSON goes in the same way
    assert main(["predict", str(PHOTOS[1]), "--out", str(tmp_path / "one")]) == 0
    assert main(["prepare", str(tmp_path / "one" / "group4.json"), "--out", str(tmp_path / "prep1"), "--crop", "face",
                 "--size", "64", "--test-frac", "0", "--workers", "0", "--quiet"]) == 0
    assert len(json.loads((tmp_path / "prep1" / "manifest.json").read_text())["samples"]) == 4


def test_stale_part_without_resume_is_not_mixed_in(tmp_path):
    """Without --resume a new run starts over (a stale .part from a killed run is not mixed in)."""
    folder = _folder(tmp_path, 2)
    out = tmp_path / "o"
    out.mkdir()
    (out / "predictions.jsonl.part").write_text(json.dumps({"image": "img_001.jpg", "faces": []}) + "\n")
    assert main(["predict", str(folder), "--out", str(out)]) == 0
    recs = _records(out / "predictions.jsonl")
    assert [len(r["faces"]) for r in recs] == [4, 2]


def test_output_inside_the_input_folder_is_not_read_back(tmp_path):
    folder = _folder(tmp_path, 2)
    for _ in range(2):  # the second run would see the first run's annotated PNGs as photos
        assert main(["predict", str(folder), "--out", str(folder / "preds"), "--draw"]) == 0
        recs = _records(folder / "preds" / "predictions.jsonl")
        assert sorted(r["image"] for r in recs) == ["img_001.jpg", "sub/img_000.jpg"]
