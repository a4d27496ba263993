"""Round trips and error reasons of every landmark file format."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pipnet106.draw import PALETTE, draw_box, draw_legend, draw_points
from pipnet106.errors import SampleError, UserError
from pipnet106.data.formats import (Sample, detect_format, find_samples, jsonl_samples, load_source, make_record,
                               points_from_value, read_json, read_jsonl, read_lapa, read_lapa_points, read_list,
                               read_names, read_points_txt, read_sample_points, write_json, write_jsonl,
                               write_lapa, write_list, write_points_txt)
from pipnet106.layout import get_layout

N = 106


def _pts(seed=0, n=N, scale=300.0):
    return np.random.default_rng(seed).uniform(0, scale, (n, 2))


def _image(w=64, h=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------ per-image text

def test_points_txt_round_trip(tmp_path):
    pts = _pts()
    p = write_points_txt(tmp_path / "a.txt", pts)
    back = read_points_txt(p, N)
    assert back.shape == (N, 2) and back.dtype == np.float64
    np.testing.assert_allclose(back, pts, atol=1e-6)
    assert len(p.read_text().splitlines()) == N
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")]  # no temp file left


def test_points_txt_accepts_header_commas_and_one_line(tmp_path):
    pts = np.round(_pts(1), 3)
    (tmp_path / "h.txt").write_text(f"{N}\n" + "".join(f"{x},{y}\n" for x, y in pts))
    np.testing.assert_allclose(read_points_txt(tmp_path / "h.txt", N), pts)
    (tmp_path / "flat.txt").write_text(" ".join(f"{v}" for v in pts.reshape(-1)) + "\n")
    np.testing.assert_allclose(read_points_txt(tmp_path / "flat.txt", N), pts)


@pytest.mark.parametrize("text, reason, detail", [
    (None, "missing label", ""),
    ("1 2\n" * 98, "wrong point count", "got 98, expected 106"),
    ("", "wrong point count", "got 0, expected 106"),
    ("1 2\n" * 4 + "3 abc\n" + "1 2\n" * 101, "non-numeric value", "line 5"),
    ("1 2\n" * 10 + "nan 2\n" + "1 2\n" * 95, "non-finite value", "line 11"),
    ("1 2\n" * 10 + "1 inf\n" + "1 2\n" * 95, "non-finite value", "line 11"),
    ("1 2\n" * 105 + "1 2 3\n", "wrong point count", "line 106"),
])
def test_points_txt_errors(tmp_path, text, reason, detail):
    p = tmp_path / "bad.txt"
    if text is not None:
        p.write_text(text)
    with pytest.raises(SampleError) as ei:
        read_points_txt(p, N)
    assert ei.value.reason == reason
    assert detail in ei.value.detail
    assert ei.value.path == str(p)
    assert str(p) in str(ei.value)


def test_find_samples_pairs_by_relative_stem(tmp_path):
    img = tmp_path / "imgs"
    (img / "sub").mkdir(parents=True)
    for name in ("a.jpg", "B.PNG", "c.JpEg", "sub/d.webp", "sub/e.bmp", "nolabel.png", ".hidden.jpg", "notes.md"):
        (img / name).write_bytes(b"x")
    for name in ("a.txt", "B.txt", "c.TXT", "sub/d.txt", "sub/e.txt", "orphan.txt"):
        (img / name).write_text("0 0\n")
    got = {s.key: s for s in find_samples(img)}
    assert set(got) == {"a", "B", "c", "sub/d", "sub/e", "nolabel", "orphan"}
    assert got["sub/d"].image == img / "sub/d.webp" and got["sub/d"].label == img / "sub/d.txt"
    assert got["c"].label == img / "c.TXT"
    assert got["nolabel"].label is None and got["nolabel"].image is not None
    assert got["orphan"].image is None and got["orphan"].label == img / "orphan.txt"
    flat = {s.key for s in find_samples(img, recursive=False)}
    assert "sub/d" not in flat and "a" in flat
    excluded = {s.key for s in find_samples(img, exclude=[img / "sub"])}
    assert "sub/d" not in excluded


def test_find_samples_separate_labels_dir(tmp_path):
    (tmp_path / "im" / "x").mkdir(parents=True)
    (tmp_path / "lab" / "x").mkdir(parents=True)
    (tmp_path / "im" / "x" / "p.jpg").write_bytes(b"x")
    (tmp_path / "im" / "x" / "p.txt").write_text("ignored")  # only labels_dir counts
    write_points_txt(tmp_path / "lab" / "x" / "p.txt", _pts())
    (s,) = find_samples(tmp_path / "im", tmp_path / "lab")
    assert s.label == tmp_path / "lab" / "x" / "p.txt" and s.key == "x/p"
    with pytest.raises(UserError):
        find_samples(tmp_path / "nope")


def test_read_sample_points_missing_label_names_image(tmp_path):
    s = Sample(tmp_path / "a.jpg", None, "a")
    with pytest.raises(SampleError) as ei:
        read_sample_points(s, "txt", N)
    assert ei.value.reason == "missing label" and ei.value.path == str(tmp_path / "a.jpg")
    assert "a.txt or a.pts" in str(ei.value)  # both label files prepare looks for (.pts: 300-W)


# ------------------------------------------------------------------ PIPNet list

def test_list_round_trip_and_names_with_spaces(tmp_path):
    entries = [("images/a.jpg", _pts(1, scale=1.0)), ("images/my photo.png", _pts(2, scale=1.0))]
    p = write_list(tmp_path / "train.txt", entries)
    back = read_list(p, N)
    assert [n for n, _ in back] == ["images/a.jpg", "images/my photo.png"]
    for (_, a), (_, b) in zip(entries, back):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert read_names(p) == ["images/a.jpg", "images/my"]  # plain name files: first field
    assert read_names(["x", "y"]) == ["x", "y"]
    write_list(tmp_path / "empty.txt", [])
    assert read_list(tmp_path / "empty.txt", N) == []


@pytest.mark.parametrize("line, needle", [
    ("a.jpg " + "0.5 " * 10, "expected a name and 212 numbers"),
    ("a.jpg " + "0.5 " * 211 + "zz", "non-numeric"),
    ("a.jpg " + "0.5 " * 211 + "nan", "non-finite"),
])
def test_list_errors_name_file_and_line(tmp_path, line, needle):
    good = "ok.jpg " + " ".join(["0.5"] * 2 * N)
    p = tmp_path / "l.txt"
    p.write_text(good + "\n\n" + line + "\n")
    with pytest.raises(UserError) as ei:
        read_list(p, N)
    assert f"{p}:3" in str(ei.value) and needle in str(ei.value)
    with pytest.raises(UserError, match="not found"):
        read_list(tmp_path / "missing.txt", N)


# ------------------------------------------------------------------ LaPa

def test_lapa_round_trip(tmp_path):
    root = tmp_path / "lapa"
    pts_a, pts_b = _pts(3, scale=60), _pts(4, scale=40)
    img_file = tmp_path / "b_src.png"
    cv2.imwrite(str(img_file), _image(seed=1))
    ia, la = write_lapa(root, "a", _image(), pts_a)
    ib, lb = write_lapa(root, "b", img_file, pts_b)
    assert ia == root / "images" / "a.jpg" and ib == root / "images" / "b.png"
    assert ib.read_bytes() == img_file.read_bytes()
    assert la.read_text().splitlines()[0] == str(N)
    samples = read_lapa(root)
    assert [(s.key, s.image, s.label) for s in samples] == [("a", ia, la), ("b", ib, lb)]
    np.testing.assert_allclose(read_lapa_points(la, N), pts_a, atol=1e-6)
    np.testing.assert_allclose(read_sample_points(samples[1], "lapa", N), pts_b, atol=1e-6)
    assert detect_format(root) == "lapa"
    assert load_source(root)[0] == "lapa"
    # the header is required in the LaPa format and must match the lines
    lb.write_text("".join(f"{x} {y}\n" for x, y in pts_b))
    with pytest.raises(SampleError) as ei:
        read_lapa_points(lb, N)
    assert ei.value.reason == "wrong point count"
    with pytest.raises(UserError):
        read_lapa(tmp_path)


# ------------------------------------------------------------------ JSONL / JSON

def test_jsonl_round_trip(tmp_path):
    recs = [make_record("imgs/a.jpg", _pts(5), score=0.9), make_record("/abs/b.png", _pts(6), layout="lapa106")]
    recs.append({"image": "c.jpg", "points": np.asarray(_pts(7)), "extra": {"k": np.float32(1.5)}})
    p = write_jsonl(tmp_path / "labels.jsonl", recs)
    assert len(p.read_text().splitlines()) == 3
    back = read_jsonl(p)
    assert back[0]["image"] == "imgs/a.jpg" and back[0]["layout"] == "lapa106" and back[0]["score"] == 0.9
    assert back[2]["extra"] == {"k": 1.5}
    for r, b in zip(recs, back):
        np.testing.assert_allclose(points_from_value(b["points"], N, "x"), np.asarray(r["points"]), atol=0)
    samples = jsonl_samples(p)
    assert samples[0].image == tmp_path / "imgs" / "a.jpg"
    assert str(samples[1].image) == "/abs/b.png"
    assert samples[2].where == f"{p}:3"
    assert detect_format(p) == "jsonl"
    j = write_json(tmp_path / "one.json", recs[0])
    assert read_json(j) == json.loads(json.dumps(back[0]))


def test_jsonl_errors(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"image": "a.jpg", "points": []}\n\n{not json}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:3"):
        read_jsonl(p)
    p.write_text('{"points": []}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1"):
        read_jsonl(p)
    with pytest.raises(ValueError):
        write_jsonl(tmp_path / "nan.jsonl", [{"image": "a", "points": [[float("nan"), 1.0]]}])


@pytest.mark.parametrize("value, reason", [
    (None, "missing label"),
    ([[1, 2]] * 98, "wrong point count"),
    ([[1, "abc"]] + [[1, 2]] * 105, "non-numeric value"),
    ([[1, None]] + [[1, 2]] * 105, "non-numeric value"),
    ([[float("nan"), 2]] + [[1, 2]] * 105, "non-finite value"),
    ([[1, "inf"]] + [[1, 2]] * 105, "non-finite value"),
])
def test_jsonl_point_errors(value, reason):
    with pytest.raises(SampleError) as ei:
        points_from_value(value, N, "f.jsonl:4")
    assert ei.value.reason == reason and ei.value.path == "f.jsonl:4"


# ------------------------------------------------------------------ drawing

def test_draw_points_colours_by_region_and_keeps_input():
    lay = get_layout("lapa106")
    img = np.zeros((200, 200, 3), np.uint8)
    pts = np.full((N, 2), np.nan)
    eye = int(lay.region_index("left_eye")[0])
    mouth = int(lay.region_index("mouth_outer")[0])
    pts[eye] = (50.5, 50.5)
    pts[mouth] = (150.5, 150.5)
    out = draw_points(img, pts, lay, radius=3)
    assert img.sum() == 0  # input untouched
    assert tuple(out[50, 50]) == PALETTE["left_eye"]
    assert tuple(out[150, 150]) == PALETTE["mouth_outer"]
    assert out[100, 100].sum() == 0
    one = draw_points(img, pts, "lapa106", radius=3, color=(1, 2, 3))
    assert tuple(one[50, 50]) == (1, 2, 3)
    # a point count that does not match the layout still draws (single colour)
    other = draw_points(img, np.array([[20.5, 20.5]]), lay, radius=2)
    assert other[20, 20].any()
    numbered = draw_points(img, pts, lay, numbers=True, radius=3)
    assert (numbered != 0).sum() > (out != 0).sum()
    boxed = draw_box(img, (10, 10, 60, 80), label="face")
    assert boxed[10, 30].any() and not boxed[40, 30].any()
    assert draw_legend(img, lay).shape[0] > img.shape[0]


def test_find_images_skips_outputs_inside_the_input_and_hidden_names(tmp_path):
    from pipnet106.fileio import find_images

    for rel in ("b.jpg", "a.PNG", "sub/c.webp", "notes.txt", "out/a_annotated.png", "._d.jpg", ".cache/e.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    names = lambda ps: [p.relative_to(tmp_path).as_posix() for p in ps]  # noqa: E731
    assert names(find_images(tmp_path, exclude=tmp_path / "out", skip_hidden=True)) == ["a.PNG", "b.jpg", "sub/c.webp"]
    assert names(find_images(tmp_path, exclude=tmp_path / "out")) == ["._d.jpg", ".cache/e.jpg", "a.PNG", "b.jpg",
                                                                      "sub/c.webp"]
    assert "out/a_annotated.png" in names(find_images(tmp_path))
