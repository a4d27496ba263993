"""The teacher's 478->106 table ships with the package; without the teacher env the command says what to do."""
from __future__ import annotations

import numpy as np
import pytest

from pipnet106.teacher import autolabel
from pipnet106.cli import main


def test_mesh_table_is_a_convex_map():
    w, meta = autolabel.load_mesh_table()
    assert w.shape == (106, 478)
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-3)
    assert meta["held_out_faces"] > 0


def test_autolabel_without_teacher_is_one_line(tmp_path, monkeypatch, capsys):
    import importlib.util

    if importlib.util.find_spec("mediapipe") is not None:
        pytest.skip("this environment has the teacher")
    from pipnet106.cli import autolabel as autolabel_cmd

    monkeypatch.setattr(autolabel_cmd, "teacher_python", lambda: None)
    (tmp_path / "src").mkdir()
    assert main(["autolabel", str(tmp_path / "src"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make teacher-env" in err[0]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- mirror agreement, pose, resume
import json  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402

import cv2  # noqa: E402

from pipnet106.errors import UserError  # noqa: E402
from pipnet106.layout import LAPA106  # noqa: E402


def _symmetric_face(cx=50.0, cy=60.0, scale=30.0) -> np.ndarray:
    """The pose module's 3-D mean face seen from the front: symmetric under the flip map, yaw 0."""
    from pipnet106.infer.pose import reference_3d

    p = reference_3d()[:, :2]
    return p / np.ptp(p[:, 0]) * 2 * scale + (cx, cy)


def test_symmetric_face_is_its_own_mirror():
    p = _symmetric_face()
    np.testing.assert_allclose(LAPA106.mirror_points(p, 100.0), p, atol=1e-9)


def test_pose_buckets_and_record():
    assert [autolabel.pose_bucket(y) for y in (5, -30, 60, -90, None, float("nan"))] == \
        ["frontal", "three_quarter", "profile", "profile", "unknown", "unknown"]
    from pipnet106.infer.pose import head_pose

    p = _symmetric_face()
    f = autolabel.combine_runs([p], [p], 100, 120)[0]
    assert f.yaw == pytest.approx(head_pose(p).yaw) and abs(f.yaw) < 1 and f.pose == "frontal"
    rec = f.to_dict(0.05)
    assert rec["pose"] == "frontal" and set(rec) >= {"yaw", "pitch", "roll", "flip_nme", "face_size", "cut", "kept"}


def test_combine_runs_measures_disagreement_and_averages():
    p = _symmetric_face()
    iod = float(LAPA106.norm_distance(p))
    faces = autolabel.combine_runs([p], [p + (0.1 * iod, 0)], 100, 120)
    f = faces[0]
    assert f.flip_nme == pytest.approx(0.1)
    np.testing.assert_allclose(f.points, p + (0.05 * iod, 0))
    assert not f.kept(0.05) and f.kept(0.12)
    assert f.to_dict(0.05)["drop"] == "mirror disagrees"
    assert not f.cut and f.pose == "frontal"
    # no mirrored face, or only one far away: no match, never kept
    for mirrored in ([], [p + (5 * iod, 0)]):
        g = autolabel.combine_runs([p], mirrored, 100, 120)[0]
        assert not np.isfinite(g.flip_nme) and g.to_dict(1.0)["drop"] == "no mirror match"
        np.testing.assert_allclose(g.points, p)
    assert autolabel.combine_runs([p - (40, 0)], [p - (40, 0)], 100, 120)[0].cut


def _dot_teacher():
    """A MeshTeacher whose network is replaced: it puts a symmetric face on the brightest pixel."""
    t = object.__new__(autolabel.MeshTeacher)

    def run_once(bgr):
        y, x = np.unravel_index(int(np.argmax(bgr[:, :, 1])), bgr.shape[:2])
        return [_symmetric_face(x + 0.5, y + 0.5, 10.0)] if bgr.max() > 0 else []
    t.run_once = run_once
    return t


def test_mirror_run_is_mapped_back_with_the_flip_map():
    img = np.zeros((80, 100, 3), np.uint8)
    img[30, 37] = 255
    faces = _dot_teacher()(img)
    assert len(faces) == 1 and faces[0].flip_nme == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(faces[0].points, _symmetric_face(37.5, 30.5, 10.0), atol=1e-9)
    assert _dot_teacher()(np.zeros((8, 8, 3), np.uint8)) == []


class _CountingTeacher:
    def __init__(self, fail_at: int | None = None):
        self.calls, self.fail_at, self.inner = 0, fail_at, _dot_teacher()

    def __call__(self, bgr):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise KeyboardInterrupt
        return self.inner(bgr)


def _photos(root, n=5, bad=()):
    root.mkdir()
    for i in range(n):
        img = np.zeros((60, 70, 3), np.uint8)
        if i != 3:  # image 3 has no face
            img[20 + i, 30] = 255
        cv2.imwrite(str(root / f"img{i}.png"), img)
    for name in bad:
        (root / name).write_bytes(b"not an image")
    (root / "._img0.png").write_bytes(b"macOS resource fork, not a photo")
    return root


def test_killed_run_resumes_without_relabelling(tmp_path):
    src, out = _photos(tmp_path / "src"), tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        autolabel.autolabel(src, out, teacher=_CountingTeacher(fail_at=3))
    part = out / "autolabel.jsonl.part"
    assert not (out / "autolabel.jsonl").exists() and len(part.read_text().splitlines()) == 2
    with open(part, "a") as f:
        f.write('{"image": "img2.png", "sta')  # torn line of a kill mid-write
    with pytest.raises(UserError):
        autolabel.autolabel(src, out, teacher=_CountingTeacher())  # not empty, no --resume: refused
    t = _CountingTeacher()
    summary = autolabel.autolabel(src, out, resume=True, teacher=t)
    assert t.calls == 3  # img2, img3, img4 only
    recs = [json.loads(line) for line in (out / "autolabel.jsonl").read_text().splitlines()]
    assert [r["image"] for r in recs] == [f"img{i}.png" for i in range(5)]
    assert not part.exists()
    assert summary["images"] == 5 and summary["skipped_reasons"] == {"no face found": 1}
    assert summary["faces_kept"] == 4 and summary["kept_pose"] == {"frontal": 4}
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["img0.txt", "img1.txt", "img2.txt", "img4.txt"]
    pts = np.loadtxt(out / "labels" / "img1.txt")
    np.testing.assert_allclose(pts, _symmetric_face(30.5, 21.5, 10.0), atol=1e-3)
    # resuming a finished run labels nothing again
    t2 = _CountingTeacher()
    autolabel.autolabel(src, out, resume=True, teacher=t2)
    assert t2.calls == 0


def test_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mediapipe", types.ModuleType("mediapipe"))
    dot = _dot_teacher()
    monkeypatch.setattr(autolabel, "MeshTeacher", lambda max_faces=5: dot)
    good = tmp_path / "good"
    good.mkdir()
    img = np.zeros((60, 70, 3), np.uint8)
    img[20, 30] = 255
    cv2.imwrite(str(good / "a.png"), img)
    assert main(["autolabel", str(good), "--out", str(tmp_path / "o1")]) == 0
    src = _photos(tmp_path / "src", n=3, bad=("broken.jpg",))
    assert main(["autolabel", str(src), "--out", str(tmp_path / "o2")]) == 1
    summary = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert summary["skipped_reasons"] == {"unreadable image": 1} and summary["images"] == 4
    assert main(["autolabel", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o3")]) == 2
    assert main(["autolabel", str(good), "--out", str(tmp_path / "o1")]) == 2  # not empty without --resume
    err = capsys.readouterr().err
    assert "--resume" in err and "Traceback" not in err
