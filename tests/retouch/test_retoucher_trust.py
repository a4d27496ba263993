"""Retouch effects a user must be able to trust (issue 23): colour stays on its own face, fades with
the face's reliability, blush follows the skin's tone, the summary and the command's small contracts.

Faces here are the synthetic template (`synth.template`) drawn on generated images: exact points,
exact colours, no model in the loop except where the command line needs one.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.cli import main
from pipnet106.retouch import PRESETS, Adjustments, retouch, retouch_report
from pipnet106.shape.frame import face_frame
from pipnet106.shape.frame import MOUTH_INNER, MOUTH_OUTER
from pipnet106.retouch.makeup import BLUSH_STRENGTH, _lab_of, cheek_centres
from pipnet106.retouch.masks import face_outline, own_region
from pipnet106.retouch.params import DEFAULT_BLUSH, PRESET_USES
from pipnet106.retouch.warp import template_shift
from pipnet106.synth.faces import template

sys.path.insert(0, str(Path(__file__).parent))
from beauty_face import FaceStub  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAIR = FIXTURES / "pair2.jpg"
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _face(width: float, left: float, top: float) -> np.ndarray:
    """Template points for a frontal face `width` px from jaw to jaw, its bounding box at (left, top)."""
    t = template()
    s = width / float(np.hypot(*(t[32] - t[0])))
    return (t - t.min(0)) * s + [left, top]


def _draw(img: np.ndarray, pts: np.ndarray, rgb: tuple[int, int, int]) -> None:
    """The face's outline filled with a skin colour and its lips a darker red, in place."""
    fr = face_frame(pts)
    cv2.fillPoly(img, [np.round(face_outline(pts, fr)).astype(np.int32)], rgb[::-1])
    lips = tuple(int(c * 0.8) for c in (rgb[0], rgb[1] * 0.7, rgb[2] * 0.7))
    cv2.fillPoly(img, [np.round(pts[MOUTH_OUTER]).astype(np.int32)], lips[::-1])
    cv2.fillPoly(img, [np.round(pts[MOUTH_INNER]).astype(np.int32)], (40, 40, 60))


def _textured(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Mid-grey image with fine noise, so smoothing has something to change everywhere."""
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, 12, (*shape, 3)), 0, 255).astype(np.uint8)


def _outside(poly: np.ndarray, shape: tuple[int, int], margin: int = 1) -> np.ndarray:
    """Pixels at least `margin` px outside a polygon (a 1 px band absorbs the edge's anti-aliasing)."""
    m = np.zeros(shape, np.uint8)
    # points are continuous coordinates; OpenCV's are pixel centres (4 fractional bits)
    cv2.fillPoly(m, [np.round((poly - 0.5) * 16).astype(np.int32)], 1, shift=4)
    return cv2.dilate(m, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) == 0


# ---------------------------------------------------------------- colour stays on its own face

def test_lips_pushed_outside_their_face_colour_nothing_outside_it():
    """Closed loop: face A's mouth points are moved so that most of the mouth lies outside A's own
    region, over its neighbour B. Lipstick, blush and skin smoothing on A leave every pixel outside
    A's own region (B included) byte-identical, and still colour the part of A's lips inside it."""
    img = _textured((300, 520))
    a, b = _face(200, 20, 40), _face(200, 250, 40)
    for pts, tone in ((a, (200, 150, 120)), (b, (120, 85, 65))):
        _draw(img, pts, tone)
    pushed = a.copy()
    mouth = np.r_[MOUTH_OUTER, MOUTH_INNER]
    pushed[mouth, 0] += a[32, 0] - a[mouth, 0].mean()   # the mouth's centre out to A's jaw line
    hull = own_region(pushed, face_frame(pushed))
    out_pts = [cv2.pointPolygonTest(hull.astype(np.float32), (float(x), float(y)), False) < 0
               for x, y in pushed[MOUTH_OUTER]]
    assert sum(out_pts) >= 5, "the test needs lip points outside A's own region"
    out_b = b.copy()
    for adj in (Adjustments(lipstick=(200, 20, 60), lipstick_amount=1.0),
                Adjustments(blush=1.0, smooth_skin=1.0, lipstick=(200, 20, 60), lipstick_amount=1.0)):
        out, rep = retouch_report(img, [pushed, out_b], adj, select=[0])
        outside = _outside(hull, img.shape[:2])
        assert np.array_equal(out[outside], img[outside]), "colour landed outside the face's own region"
        b_region = ~_outside(own_region(b, face_frame(b)), img.shape[:2], margin=0)
        assert np.array_equal(out[b_region], img[b_region]), "the neighbour's face was painted"
        lips_in = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(lips_in, [np.round(pushed[MOUTH_OUTER]).astype(np.int32)], 1)
        lips_in = (lips_in > 0) & ~_outside(hull, img.shape[:2], margin=0)
        changed = np.any(out != img, axis=2)
        assert changed[lips_in].mean() > 0.3, "the part of the lips inside the face still gets lipstick"
        assert rep[0].edited


@pytest.mark.parametrize("adj", [Adjustments(lipstick=(200, 20, 60), lipstick_amount=1.0),
                                 Adjustments(blush=1.0), Adjustments(smooth_skin=1.0)],
                         ids=["lipstick", "blush", "smooth_skin"])
def test_colour_effects_fade_with_yaw_and_reliability(adj):
    """Each colour effect alone: full at yaw 5, partial at 40 (in proportion to the face's weight),
    nothing at all at 70, for a face flagged unreliable or with low point confidence."""
    img = _textured((300, 280), seed=1)
    pts = _face(220, 30, 30)
    _draw(img, pts, (190, 140, 115))
    img = cv2.add(img, _textured((300, 280), seed=2) - 128)   # texture on the face too
    conf = np.full(106, 0.9)

    def change(face) -> tuple[float, float]:
        out, rep = retouch_report(img, [face], adj)
        return float(np.abs(out.astype(np.int32) - img).sum()), rep[0].weight

    full, w_full = change(FaceStub(pts, conf, {"yaw": 5.0, "pitch": 0.0}))
    part, w_part = change(FaceStub(pts, conf, {"yaw": 40.0, "pitch": 0.0}))
    assert w_full == 1.0 and 0.1 < w_part < 0.5 and full > 0
    assert 0.5 * w_part < part / full < 1.5 * w_part, "colour should fade as the warp's weight does"
    for face in (FaceStub(pts, conf, {"yaw": 70.0, "pitch": 0.0}), FaceStub(pts, conf, reliable=False),
                 FaceStub(pts, np.full(106, 0.3))):
        out, rep = retouch_report(img, [face], adj)
        assert np.array_equal(out, img) and not rep[0].edited


# ---------------------------------------------------------------- blush follows the skin's own tone

# skin tones from light to deep (sRGB of the Monk Skin Tone scale, orbs 2, 6, 8, 9)
TONES = {"light": (0xF3, 0xE7, 0xDB), "medium": (0xA0, 0x7E, 0x56), "dark": (0x60, 0x41, 0x34),
         "deep": (0x3A, 0x31, 0x2A)}


def _lab(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab).reshape(-1, 3).mean(0)


def _hue(lab: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(lab[2], lab[1])))


def _blush_at_cheek(rgb: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Lab at the blush's centre on a flat skin of colour `rgb`, before and after blush 1."""
    img = np.full((300, 280, 3), (60, 110, 70), np.uint8)
    pts = _face(220, 30, 30)
    _draw(img, pts, rgb)
    out = retouch(img, [pts], Adjustments(blush=1.0))
    x, y = np.round(cheek_centres(pts, face_frame(pts))[0]).astype(int)
    patch = np.s_[y - 1:y + 2, x - 1:x + 2]
    return _lab(img[patch]), _lab(out[patch])


@pytest.mark.parametrize("tone", ["medium", "dark", "deep"])
def test_blush_on_darker_skin_is_its_own_rose_not_a_salmon_patch(tone):
    """Measured in Lab at the cheek: the hue turns from the skin's toward the blush colour's hue (a rose:
    redder, less yellow for a yellow skin); the chroma stays between the skin's own and the blush's saturation at the
    skin's lightness (a fixed tint raised it by ~60% beyond both: the salmon patch); and the implied
    full-strength colour is the blush colour at the skin's lightness: its hue, and its chroma scaled
    by sqrt(skin L* / blush L*)."""
    before, after = _blush_at_cheek(TONES[tone])
    blush = _lab_of(DEFAULT_BLUSH)
    h0, h1, hb = _hue(before), _hue(after), _hue(blush)
    c0, c1 = np.hypot(*before[1:]), np.hypot(*after[1:])
    assert h1 < h0 - 8 and h1 > hb - 2, (h0, h1, hb)
    assert after[1] > before[1] + 2, "toward rose: redder"
    k = np.sqrt(before[0] / blush[0])                       # the blush's chroma at this skin's lightness
    c_own = np.hypot(*blush[1:]) * k
    assert c1 < max(c0, c_own) + 1.0, f"chroma {c0:.1f} -> {c1:.1f} (own rose {c_own:.1f}): a bright patch"
    assert -6.0 < after[0] - before[0] <= 0.5, "lightness kept (a slight deepening at most)"
    target = before[1:] + (after[1:] - before[1:]) / BLUSH_STRENGTH   # the colour at full opacity
    expected = blush[1:] * k
    assert np.hypot(*(target - expected)) < 0.2 * np.hypot(*expected), (target, expected)


def test_blush_visible_on_every_tone():
    """Keeping to the skin's own tone must not make the blush vanish on a deep skin: at amount 1 the
    cheek's colour moves by more than 5 (Lab distance) on every tone, most on the palest."""
    moves = {}
    for tone, rgb in TONES.items():
        before, after = _blush_at_cheek(rgb)
        moves[tone] = float(np.linalg.norm(after - before))
    assert min(moves.values()) > 5.0 and max(moves, key=moves.get) == "light", moves


# ---------------------------------------------------------------- summary and command line

def test_report_marks_only_faces_actually_edited():
    img = _textured((300, 520))
    a, b = _face(200, 20, 40), _face(200, 250, 40)
    faded = FaceStub(b, np.full(106, 0.3))
    for adj in (PRESETS["slim"], Adjustments(lipstick=(200, 20, 60), lipstick_amount=0.5)):
        _, rep = retouch_report(img, [a, faded], adj)
        assert [r.edited for r in rep] == [True, False]
        assert [r.to_dict()["edited"] for r in rep] == [True, False]


def test_cli_summary_counts_edited_faces(tmp_path, capsys):
    """A box on the white background gives points with low confidence: found, not edited."""
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"pair2.jpg": [[90, 29, 163, 102], [380, 10, 440, 70]]}))
    assert main(["retouch", str(PAIR), "--out", str(tmp_path / "o"), "--boxes", str(boxes),
                 "--preset", "slim", "--json"]) == 0
    text = capsys.readouterr().out
    rec = json.loads((tmp_path / "o" / "pair2.json").read_text())
    assert [f["edited"] for f in rec["faces"]] == [True, False]
    assert "1 of 2 faces edited" in text


def test_cli_no_adjustment_says_so_instead_of_zero_faces(tmp_path, capsys):
    """--faces 5 without any adjustment: nothing to do, so no detection and no 'out of range'."""
    out = tmp_path / "o"
    assert main(["retouch", str(PAIR), "--out", str(out), "--faces", "5"]) == 0
    text = capsys.readouterr().out
    assert "no adjustment given" in text and "face(s) found" not in text and "problem" not in text
    assert np.array_equal(cv2.imread(str(out / "pair2.jpg")).shape, cv2.imread(str(PAIR)).shape)


def test_cli_folder_without_faces_exits_1(tmp_path, capsys):
    src = tmp_path / "noface"
    src.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(src / "noise.png"), rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "grey.jpg"), np.full((90, 90, 3), 128, np.uint8))
    assert main(["retouch", str(src), "--out", str(tmp_path / "o"), "--preset", "natural"]) == 1
    text = capsys.readouterr().out
    assert "0/2 images" in text and text.count("no face found") >= 2


def test_cli_output_file_with_any_image_extension(tmp_path, capsys):
    """--out r/out.tiff for one image writes that file (it used to create a folder named out.tiff)."""
    target = tmp_path / "r" / "out.tiff"
    assert main(["retouch", str(PAIR), "--out", str(target), "--face-slim", "0.3"]) == 0
    assert target.is_file() and cv2.imread(str(target)).shape == cv2.imread(str(PAIR)).shape
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / PAIR.name).write_bytes(PAIR.read_bytes())
    assert main(["retouch", str(folder), "--out", str(tmp_path / "x.png"), "--face-slim", "0.3"]) == 2
    assert "--out" in capsys.readouterr().err


# ---------------------------------------------------------------- presets: how strong each is

def test_presets_documented_with_their_measured_strength(capsys):
    """The preset table (in the README or a page of the docs site, wherever it lives; every copy is
    checked) gives each preset's purpose and its largest move on a 180 px face, as measured now (so
    the table cannot go stale), and `--list` prints the same numbers."""
    tables = {}
    for path in (README, *sorted((ROOT / "docs").glob("*.md"))):
        rows = dict(re.findall(r"^\| `(\w+)` \| ([0-9.]+) px \|", path.read_text(), flags=re.M))
        if rows:
            tables[path.name] = rows
    assert tables, "no preset table in README.md or docs/*.md"
    for where, rows in tables.items():
        assert set(rows) == set(PRESETS) == set(PRESET_USES), where
        for name, adj in PRESETS.items():
            assert abs(float(rows[name]) - template_shift(adj)) < 0.06, (where, name)
    assert main(["retouch", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(f"{template_shift(adj):4.1f} px" in listed for adj in PRESETS.values())
    # the shape presets differ: the strongest moves a face at least 2.5x as far as the lightest
    shifts = {n: template_shift(a) for n, a in PRESETS.items() if a.has_shape}
    assert max(shifts.values()) > 2.5 * min(shifts.values())


@pytest.mark.parametrize("argv, flag", [(["--max-faces", "-1"], "--max-faces"), (["--refine", "-2"], "--refine"),
                                        (["--min-face-size", "-5"], "--min-face-size"),
                                        (["--device", "gpu"], "--device")])
def test_cli_model_options_name_their_flag(tmp_path, capsys, argv, flag):
    """The model options are checked as predict checks them: the message names the flag, not a class
    (`--max-faces -1` used to say 'Landmarker: max_faces must be 0 or more')."""
    with pytest.raises(SystemExit) as e:
        main(["retouch", str(PAIR), "--out", str(tmp_path / "o"), "--face-slim", "0.3", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Landmarker" not in err
    assert not (tmp_path / "o").exists()
