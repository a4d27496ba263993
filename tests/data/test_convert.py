"""300-W (68-point) human labels as partial 106-point labels: the importer behind
`prepare --labels-layout ibug68` (`pipnet106.data.convert`), the `.pts` reader and the mean face fill."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipnet106.cli import main
from pipnet106.crop import CropTransform, points_box
from pipnet106.data.convert import (IBUG68_DIRECT, LOWER_LID_AT, UPPER_LID_AT, get_conversion, ibug68_to_lapa106,
                                    resample_lid)
from pipnet106.data.formats import read_list, read_points_pts
from pipnet106.data.meanface import fill_meanface, load_meanface
from pipnet106.errors import SampleError, UserError
from pipnet106.layout import IBUG68, LAPA106
from pipnet106.synth.faces import generate_dataset


def _eye_frame(outer, inner):
    axis = np.asarray(inner, float) - outer
    return axis, np.array([-axis[1], axis[0]])


def _cubic_lid(outer, inner, coeffs, at):
    """Points on the lid v(u) = u (1 - u) (a + b u) of an eye with these corners, at fractions `at`."""
    axis, normal = _eye_frame(np.asarray(outer, float), inner)
    u = np.asarray(at, float)
    v = u * (1 - u) * (coeffs[0] + coeffs[1] * u)
    return np.asarray(outer, float) + u[:, None] * axis + v[:, None] * normal


def test_resample_lid_is_exact_on_a_cubic_lid_in_any_pose():
    # a cubic through the corners is reproduced exactly from two lid points, whatever the eye's
    # position, size and roll: the re-sampled points are where that lid is at the 106 fractions
    for outer, inner in (([10.0, 20.0], [40.0, 22.0]), ([300.0, 80.0], [250.0, 110.0])):
        for coeffs in ((-0.9, 0.3), (0.5, -0.2)):
            p1, p2 = _cubic_lid(outer, inner, coeffs, (0.27, 0.71))
            got = resample_lid(np.array(outer), np.array(inner), p1, p2, UPPER_LID_AT)
            np.testing.assert_allclose(got, _cubic_lid(outer, inner, coeffs, UPPER_LID_AT), atol=1e-9)


def test_resample_lid_falls_back_to_segments_for_disordered_points():
    outer, inner = np.array([0.0, 0.0]), np.array([10.0, 0.0])
    got = resample_lid(outer, inner, np.array([6.0, -3.0]), np.array([5.5, -3.0]), (0.3, 0.5, 0.7))
    assert np.isfinite(got).all() and (got[:, 1] <= 0).all() and (got[:, 1] >= -3).all()
    assert np.isnan(resample_lid(outer, outer, outer, outer, (0.5,))).all()   # no eye: no lid


def _ibug_face(rng) -> np.ndarray:
    """A plausible 68-point face (the 106 mean face's parts, picked the importer's way round)."""
    lab = np.zeros((68, 2))
    ref = load_meanface(Path(__file__).resolve().parents[2] / "src/pipnet106/assets/lapa106_meanface.txt") * 200
    for dst, src in IBUG68_DIRECT.items():
        lab[src] = ref[dst]
    lab[0:17] = ref[0:33:2]
    lab[17:22], lab[22:27] = ref[33:38], ref[42:47]
    lab[[37, 38, 41, 40]] = ref[[67, 69, 73, 71]]
    lab[[44, 43, 46, 47]] = ref[[78, 76, 80, 82]]
    return lab + rng.normal(0, 0.5, lab.shape)


def test_conversion_keeps_the_points_that_mean_the_same_and_masks_the_rest():
    lab = _ibug_face(np.random.default_rng(0))
    out, box = ibug68_to_lapa106(lab)
    for dst, src in IBUG68_DIRECT.items():
        assert np.array_equal(out[dst], lab[src])
    lids = [67, 68, 69, 71, 72, 73, 76, 77, 78, 80, 81, 82]
    assert np.isfinite(out[lids]).all()
    masked = np.isnan(out).all(axis=1)
    assert masked[list(range(51)) + [55, 56, 57, 63, 64, 65, 74, 83, 104, 105]].all()
    assert (~masked).sum() == len(IBUG68_DIRECT) + len(lids) == 45
    # the lid middle lies between the lid's labelled points (not on the corner line)
    assert min(lab[37, 1], lab[38, 1]) - 1 < out[68, 1] < max(lab[37, 1], lab[38, 1]) + 1
    # the crop box is the 68 box, calibrated: close to it, not the box of the 45 kept points
    assert np.abs(box - points_box(lab)).max() < 0.03 * (box[2] - box[0])


def test_conversion_commutes_with_mirroring():
    # mirroring the photo, then converting, labels the same points as converting, then mirroring:
    # the two eyes are treated alike (no left/right slip in the lid fractions or the maps)
    lab = _ibug_face(np.random.default_rng(1))
    mirrored68 = lab[list(IBUG68.flip)] * [-1, 1]
    a, _ = ibug68_to_lapa106(mirrored68)
    b, _ = ibug68_to_lapa106(lab)
    b = b[list(LAPA106.flip)] * [-1, 1]
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], atol=1e-9)
    assert UPPER_LID_AT[1] > 0.45 and LOWER_LID_AT[1] > 0.45


def test_get_conversion():
    assert get_conversion("lapa106", "106") is None
    assert get_conversion("300w", "lapa106").src_points == 68
    with pytest.raises(UserError, match="no conversion from wflw98 labels to lapa106"):
        get_conversion("wflw98", "lapa106")
    with pytest.raises(UserError, match="unknown layout"):
        get_conversion("ibug69", "lapa106")


def test_read_points_pts_header_braces_and_one_based_pixels(tmp_path):
    pts = np.arange(136, dtype=float).reshape(68, 2) + 1.5
    body = "\n".join(f"{x} {y}" for x, y in pts)
    (tmp_path / "a.pts").write_text(f"version: 1\nn_points:  68\n{{\n{body}\n}}\n")
    (tmp_path / "b.pts").write_text(body + "\n")
    for name in ("a.pts", "b.pts"):
        np.testing.assert_array_equal(read_points_pts(tmp_path / name, 68), pts - 1.0)
    (tmp_path / "c.pts").write_text("version: 1\nn_points: 68\n{\n" + "\n".join(body.splitlines()[:60]) + "\n}\n")
    with pytest.raises(SampleError, match="got 60, expected 68"):
        read_points_pts(tmp_path / "c.pts", 68)


def test_fill_meanface_places_unlabelled_points_by_a_similarity():
    ref = np.random.default_rng(2).uniform(0, 1, (10, 2))
    ang, s, t = 0.3, 1.7, np.array([5.0, -2.0])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    truth = ref @ rot.T * s + t
    shapes = np.repeat(truth[None], 3, axis=0)
    shapes[:, [2, 7]] = np.nan           # never labelled
    mean, filled = fill_meanface(shapes, ref)
    assert filled == [2, 7]
    np.testing.assert_allclose(mean, truth, atol=1e-9)


def test_prepare_imports_300w_labels(tmp_path, capsys):
    src = tmp_path / "human"
    generate_dataset(src, 6, seed=3, size_range=(200, 260), exts=(".jpg",))
    keep, fill = {}, tmp_path / "teacher"
    fill.mkdir()
    for txt in sorted(src.glob("*.txt")):   # 106 labels -> 300-W files (1-based), the txt moved away
        p106 = np.loadtxt(txt)
        np.savetxt(fill / txt.name, p106 + 0.25)   # "another annotator" for the points 300-W lacks
        if txt.stem == "synth_00005":     # ... whose label of this photo is of another face: not used
            np.savetxt(fill / txt.name, p106 + 0.5 * (p106.max(0) - p106.min(0)))
        lab = np.zeros((68, 2))
        for dst, s in IBUG68_DIRECT.items():
            lab[s] = p106[dst]
        lab[0:17], lab[17:22], lab[22:27] = p106[0:33:2], p106[33:38], p106[42:47]
        lab[[37, 38, 41, 40]], lab[[44, 43, 46, 47]] = p106[[67, 69, 73, 71]], p106[[78, 76, 80, 82]]
        body = "\n".join(f"{x + 1:.4f} {y + 1:.4f}" for x, y in lab)
        txt.with_suffix(".pts").write_text(f"version: 1\nn_points: 68\n{{\n{body}\n}}\n")
        keep[txt.stem] = lab
        txt.unlink()
    (src / "synth_00000.txt").write_text("1 2\n")   # a second label for one photo: skipped, not guessed
    out = tmp_path / "prepared"
    assert main(["prepare", str(src), "--out", str(out), "--crop", "face", "--size", "128",
                 "--labels-layout", "ibug68", "--test-frac", "0.2", "--workers", "1"]) == 1
    cap = capsys.readouterr()
    err = cap.out + cap.err
    assert "ambiguous label (labelled twice (synth_00000.pts and synth_00000.txt); remove one)" in err
    assert "61 of the lapa106 points are never labelled by ibug68 labels" in err
    m = json.loads((out / "manifest.json").read_text())
    assert m["labels_layout"] == "ibug68" and len(m["samples"]) == 5
    lists = dict(read_list(out / "train.txt", 106) + read_list(out / "test.txt", 106))
    for s in m["samples"]:
        pts = lists[s["image"]]
        lab = keep[Path(s["label"]).stem]
        back = CropTransform.from_dict(s["transform"]).to_source(pts * 128)
        for dst, i in IBUG68_DIRECT.items():
            np.testing.assert_allclose(back[dst], lab[i], atol=2e-3)   # 0-based again, only list rounding
        assert np.isnan(pts[:51]).all() and np.isfinite(pts[66:74]).all()
    mf = load_meanface(out / "meanface.txt", 106)   # complete: the contour and brows filled in
    assert np.isfinite(mf).all() and mf[0, 0] < mf[84, 0] < mf[32, 0]

    # --fill-from: the points 300-W lacks come from full labels of the same photos (e.g. the teacher's)
    out2 = tmp_path / "filled"
    (src / "synth_00000.txt").unlink()
    assert main(["prepare", str(src), "--out", str(out2), "--crop", "face", "--size", "128", "--quiet",
                 "--labels-layout", "ibug68", "--fill-from", str(fill), "--test-frac", "0.34", "--workers", "1"]) == 0
    m = json.loads((out2 / "manifest.json").read_text())
    assert m["fill_from"] == str(fill) and len(m["samples"]) == 6
    lists = dict(read_list(out2 / "train.txt", 106) + read_list(out2 / "test.txt", 106))
    for s in m["samples"]:
        back = CropTransform.from_dict(s["transform"]).to_source(lists[s["image"]] * 128)
        if Path(s["label"]).stem == "synth_00005":
            assert np.isnan(back[:51]).all() and np.isfinite(back[84:104]).all()
            continue
        lab, other = keep[Path(s["label"]).stem], np.loadtxt(fill / (Path(s["label"]).stem + ".txt"))
        for dst, i in IBUG68_DIRECT.items():
            np.testing.assert_allclose(back[dst], lab[i], atol=2e-3)      # the human label wins
        np.testing.assert_allclose(back[:51], other[:51], atol=2e-3)      # the rest from the fill
        np.testing.assert_allclose(back[104:], other[104:], atol=2e-3)
    capsys.readouterr()
    assert main(["prepare", str(src), "--out", str(tmp_path / "x"), "--fill-from", str(fill)]) == 2
    assert "--fill-from fills the points that --labels-layout leaves unlabelled" in capsys.readouterr().err
