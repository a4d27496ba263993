"""The colour effects of issue 20, proven by measurement on a painted face (`beauty_face`): for each,
pixels outside its mask are byte-identical, inside it the documented Lab change is reached, and the
neighbouring region it must not touch moves by less than a stated Delta E (CIE76, L* 0..100)."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipnet106.errors import UserError
from pipnet106.retouch import Adjustments, retouch
from pipnet106.retouch import beauty, makeup
from pipnet106.retouch.makeup import _lab_of
from pipnet106.retouch.masks import face_mask, region_mask, region_mask_small
from pipnet106.retouch.params import DEFAULT_COLORS, NAMED_COLORS
from pipnet106.shape.frame import face_frame

sys.path.insert(0, str(Path(__file__).parent))
from beauty_face import painted_face  # noqa: E402

COLOUR_EFFECTS = ("teeth_whiten", "eye_brighten", "under_eye", "skin_tone", "eyeliner", "eyeshadow", "brow_tint",
                  "lens")


@pytest.fixture(scope="module")
def face():
    img, pts, regions = painted_face(shape=(560, 400), top=140)
    return img, pts, regions, face_frame(pts)


def _lab(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)


def _core(mask: np.ndarray, px: int = 3) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1,) * 2, np.uint8)) > 0


def _full(box, m, shape) -> np.ndarray:
    out = np.zeros(shape[:2], np.float32)
    if m.size:
        out[box[1]:box[3], box[0]:box[2]] = m
    return out


def _effect_mask(name: str, pts, fr, shape) -> np.ndarray:
    """The whole-image mask the effect is confined to (the package's own, for the byte-identity check)."""
    if name == "under_eye":
        m = np.zeros(shape[:2], np.float32)
        for ring, outer, *_ in beauty.EYES:
            poly = beauty.under_eye_crescent(pts, fr, ring, outer)
            m = np.maximum(m, _full(*beauty.polygon_mask([poly], shape, fr.scale, inward=beauty.UNDER_RAMP), shape))
        return m
    if name == "skin_tone":   # the skin pass works at SMOOTH_RES: its small mask, upsampled (+1 px of bilinear reach)
        (x0, y0, x1, y1), small = region_mask_small(pts, "skin", shape, makeup.SMOOTH_RES)
        up = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return cv2.dilate(_full((x0, y0, x1, y1), up, shape), np.ones((3, 3), np.uint8))
    if name == "brow_tint":
        return _full(*region_mask(pts, "brows", shape), shape)
    fn = {"teeth_whiten": beauty.teeth_mask, "eye_brighten": beauty.eye_mask, "eyeliner": beauty.eyeliner_mask,
          "eyeshadow": beauty.eyeshadow_mask, "lens": beauty.lens_mask}[name]
    return _full(*fn(pts, fr, shape), shape)


def _delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(_lab(a) - _lab(b), axis=-1)


@pytest.mark.parametrize("name", COLOUR_EFFECTS)
def test_outside_its_mask_byte_identical(face, name):
    """Where the effect's mask is 0 the pixel is byte-identical; the effect changes something, and
    only inside its mask's box (skin tone: only inside the face outline: hair and background stay)."""
    img, pts, _, fr = face
    for amount in (0.5, 1.0):
        out = retouch(img, [pts], Adjustments(**{name: amount}))
        changed = np.any(out != img, axis=2)
        m = _effect_mask(name, pts, fr, img.shape)
        assert changed.sum() > 100, name
        assert not (changed & (m == 0)).any(), f"{name} changed {int((changed & (m == 0)).sum())} px outside its mask"
    assert np.array_equal(retouch(img, [pts], Adjustments(**{name: 0.0})), img)


def test_low_pass_matches_a_full_resolution_gaussian():
    """under_eye's low-pass runs at 1/k resolution; away from the border it is the Gaussian it stands
    for within 1% of the image's range (and exactly the Gaussian for small sigmas)."""
    rng = np.random.default_rng(4)
    img = cv2.GaussianBlur(rng.uniform(0, 100, (240, 320, 3)).astype(np.float32), (0, 0), 6)
    img += rng.uniform(0, 20, img.shape).astype(np.float32)        # fine texture on a smooth field
    for sigma in (2.0, 9.0, 15.0, 30.0):
        ref = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        got = beauty.low_pass(img, sigma)
        m = int(2 * sigma)
        assert np.abs(got - ref)[m:-m, m:-m].max() < 1.0, sigma
        if sigma < 3:
            assert np.array_equal(got, ref)


def test_teeth_whiten_lighter_less_yellow_lips_untouched(face):
    """teeth_whiten 1: the teeth's L* up by >= 0.8 x TEETH_LIGHT (12), their chroma down by >= 40%
    (TEETH_DECHROMA 0.5); the lips (outside the inner lip line) Delta E < 0.5; half the amount, half the change."""
    img, pts, regions, _ = face
    t, lips = _core(regions["teeth"]), regions["lips"]
    lab0 = _lab(img)
    dl = {}
    for amount in (0.5, 1.0):
        out = retouch(img, [pts], Adjustments(teeth_whiten=amount))
        lab1 = _lab(out)
        dl[amount] = float((lab1[t, 0] - lab0[t, 0]).mean())
        c0, c1 = np.hypot(*lab0[t, 1:].T).mean(), np.hypot(*lab1[t, 1:].T).mean()
        assert float(_delta_e(out, img)[lips].max()) < 0.5
    assert dl[1.0] >= 0.8 * beauty.TEETH_LIGHT and c1 <= 0.6 * c0, (dl, c0, c1)
    assert 0.35 * dl[1.0] < dl[0.5] < 0.65 * dl[1.0]


def test_teeth_whiten_leaves_dark_and_saturated_pixels(face):
    """Only bright, low-chroma pixels: a red tongue and the dark gap inside the mouth keep their colour."""
    img, pts, regions, _ = face
    img = img.copy()
    t = np.argwhere(_core(regions["teeth"]))
    tongue, gap = t[: len(t) // 3], t[-len(t) // 3:]
    img[tongue[:, 0], tongue[:, 1]] = (70, 60, 190)      # BGR: a red tongue
    img[gap[:, 0], gap[:, 1]] = (25, 20, 20)              # the dark inside of the mouth
    out = retouch(img, [pts], Adjustments(teeth_whiten=1.0))
    de = _delta_e(out, img)
    assert de[tongue[:, 0], tongue[:, 1]].max() < 1.0 and de[gap[:, 0], gap[:, 1]].max() < 1.0


def test_eye_brighten_sclera_and_iris_not_lids(face):
    """eye_brighten 1: sclera and iris L* up by >= 0.8 x EYE_LIGHT (8), the sclera's chroma down by
    >= 40% (SCLERA_WHITEN 0.6), the pupil's black kept (Delta E < 3); the lashes on the ring and the
    skin round the eye: Delta E < 0.5."""
    img, pts, regions, _ = face
    out = retouch(img, [pts], Adjustments(eye_brighten=1.0))
    lab0, lab1 = _lab(img), _lab(out)
    sclera = _core(regions["left_eye"] | regions["right_eye"])
    iris = _core(regions["left_iris"] | regions["right_iris"], 1)
    for part in (sclera, iris):
        assert (lab1[part, 0] - lab0[part, 0]).mean() >= 0.8 * beauty.EYE_LIGHT
    assert np.hypot(*lab1[sclera, 1:].T).mean() <= 0.6 * np.hypot(*lab0[sclera, 1:].T).mean()
    de = _delta_e(out, img)
    assert de[_core(regions["left_pupil"] | regions["right_pupil"], 1)].max() < 3.0
    assert de[regions["left_lashes"] | regions["right_lashes"]].max() < 0.5
    assert de[regions["skin"]].max() < 0.5


def test_under_eye_closes_the_gap_to_the_cheek_not_the_lashes(face):
    """under_eye 1: where its mask is full, the dark circle's L* gap to the cheek below shrinks by
    >= 50% (UNDER_STRENGTH 0.8 of the low-pass gap; measured ~60%), 0.5 about half that; the lashes
    on the lower lid: Delta E < 0.5."""
    img, pts, regions, fr = face
    lab0 = _lab(img)
    m = _effect_mask("under_eye", pts, fr, img.shape)
    closed = {}
    for amount in (0.5, 1.0):
        out = retouch(img, [pts], Adjustments(under_eye=amount))
        lab1 = _lab(out)
        for side, (ring, *_) in zip(("left", "right"), beauty.EYES):
            cheek = beauty.cheek_tone(img, pts[ring].mean(0), fr)
            dark = regions[f"{side}_circle"] & (m > 0.95)
            assert dark.sum() > 100
            g0, g1 = cheek[0] - lab0[dark, 0].mean(), cheek[0] - lab1[dark, 0].mean()
            assert g0 > 8, "the painted circle is darker than the cheek"
            closed[(side, amount)] = 1 - g1 / g0
        assert _delta_e(out, img)[regions["left_lashes"] | regions["right_lashes"]].max() < 0.5
    assert min(closed[(s, 1.0)] for s in ("left", "right")) >= 0.5, closed
    assert all(0.3 < closed[(s, 0.5)] / closed[(s, 1.0)] < 0.7 for s in ("left", "right")), closed


def test_skin_tone_lighter_rosier_skin_only(face):
    """skin_tone 1: the skin's L* up by >= 0.8 x SKIN_LIGHT (8), a* up by >= 0.5 x SKIN_ROSE (3);
    background byte-identical, hair Delta E < 1 (the outline's anti-aliased pixels; byte-identical two
    pixels out), eyes and teeth Delta E < 1, lips < 1."""
    img, pts, regions, _ = face
    out = retouch(img, [pts], Adjustments(skin_tone=1.0))
    lab0, lab1 = _lab(img), _lab(out)
    skin = regions["skin"] & (face_mask(pts, "skin", img.shape) > 0.99)
    assert skin.sum() > 5000
    assert (lab1[skin, 0] - lab0[skin, 0]).mean() >= 0.8 * makeup.SKIN_LIGHT
    assert (lab1[skin, 1] - lab0[skin, 1]).mean() >= 0.5 * makeup.SKIN_ROSE
    de = _delta_e(out, img)
    beyond = _beyond_face(regions)
    assert np.array_equal(out[beyond], img[beyond])
    assert de[regions["hair"] | _background(regions)].max() < 1.0
    for part in ("left_eye", "right_eye", "left_iris", "right_iris", "teeth", "lips"):
        assert de[regions[part]].max() < 1.0, part


def _beyond_face(regions: dict) -> np.ndarray:
    """Hair and background more than two pixels outside the painted face (the skin pass works at
    reduced resolution: its upsampled mask reaches a pixel or two past the outline)."""
    face_area = ~(regions["hair"] | _background(regions))
    return cv2.dilate(face_area.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0


def _background(regions: dict) -> np.ndarray:
    painted = np.zeros_like(regions["skin"])
    for m in regions.values():
        painted |= m
    return ~painted


def _toward(img, out, where, rgb) -> tuple[float, float]:
    """(fraction of the Lab distance to `rgb` closed, fraction of the (a*, b*) distance closed) over `where`."""
    t = _lab_of(rgb)
    lab0, lab1 = _lab(img)[where], _lab(out)[where]
    d = lambda lab: np.linalg.norm(lab - t, axis=-1).mean()
    dab = lambda lab: np.linalg.norm(lab[:, 1:] - t[1:], axis=-1).mean()
    return 1 - d(lab1) / d(lab0), 1 - dab(lab1) / dab(lab0)


def test_eyeliner_on_the_lid_line_not_in_the_eye(face):
    """eyeliner 1: where the band is full, >= 0.8 x EYELINER_OPACITY (0.9) of the distance to the liner
    colour is closed; a wider eyeliner_width covers more; the eye inside the ring: Delta E < 0.5."""
    img, pts, regions, fr = face
    area = {}
    for width in (0.5, 1.0):
        out = retouch(img, [pts], Adjustments(eyeliner=1.0, eyeliner_width=width))
        band = _full(*beauty.eyeliner_mask(pts, fr, img.shape, width), img.shape) > 0.95
        closed, _ = _toward(img, out, band, DEFAULT_COLORS["eyeliner_color"])
        assert closed >= 0.8 * beauty.EYELINER_OPACITY, closed
        de = _delta_e(out, img)
        inside = regions["left_eye"] | regions["right_eye"] | regions["left_iris"] | regions["right_iris"]
        assert de[inside].max() < 0.5
        area[width] = int(np.any(out != img, axis=2).sum())
    assert area[1.0] > 1.3 * area[0.5]


def test_eyeshadow_on_the_lids_soft_not_in_eyes_or_brows(face):
    """eyeshadow 1: on the lid where the mask is full, >= 0.8 x SHADOW_OPACITY (0.55) of the (a*, b*)
    distance to the shadow colour is closed; the eyes: Delta E < 0.5; the brows' core: < 1; soft: the
    change falls off over several pixels (a feathered, not a cut, edge)."""
    img, pts, regions, fr = face
    out = retouch(img, [pts], Adjustments(eyeshadow=1.0))
    m = _full(*beauty.eyeshadow_mask(pts, fr, img.shape), img.shape)
    _, closed = _toward(img, out, m > 0.95, DEFAULT_COLORS["eyeshadow_color"])
    assert closed >= 0.8 * beauty.SHADOW_OPACITY, closed
    de = _delta_e(out, img)
    assert de[regions["left_eye"] | regions["right_eye"]].max() < 0.5
    assert de[_core(regions["left_brow"] | regions["right_brow"], 2)].max() < 1.0
    assert ((m > 0.05) & (m < 0.5)).sum() > 0.5 * (m > 0.95).sum(), "a soft edge"


def test_brow_tint_recolours_brows_only(face):
    """brow_tint 1: where the brow mask is > 0.7, >= 0.5 x BROW_OPACITY (0.7) of the (a*, b*) distance to
    the brow colour is closed; the eyes: Delta E < 0.5."""
    img, pts, regions, _ = face
    rgb = (40, 40, 40)                                  # a grey-black: far from the painted brown's chroma
    out = retouch(img, [pts], Adjustments(brow_tint=1.0, brow_color=rgb))
    m = _full(*region_mask(pts, "brows", img.shape), img.shape)
    _, closed = _toward(img, out, (m > 0.7) & (regions["left_brow"] | regions["right_brow"]), rgb)
    assert closed >= 0.5 * beauty.BROW_OPACITY, closed
    de = _delta_e(out, img)
    assert de[regions["left_eye"] | regions["right_eye"] | regions["left_lashes"]].max() < 0.5


def test_lens_recolours_the_iris_clipped_by_the_lids(face):
    """lens 1: where the lens mask is full, >= 0.8 x LENS_OPACITY (0.85) of the (a*, b*) distance to the
    lens colour is closed; the sclera, lashes and skin: Delta E < 0.5; the pupil: < 3."""
    img, pts, regions, fr = face
    out = retouch(img, [pts], Adjustments(lens=1.0))
    m = _full(*beauty.lens_mask(pts, fr, img.shape), img.shape)
    _, closed = _toward(img, out, (m > 0.95) & (regions["left_iris"] | regions["right_iris"]),
                        DEFAULT_COLORS["lens_color"])
    assert closed >= 0.8 * beauty.LENS_OPACITY, closed
    de = _delta_e(out, img)
    for part in ("left_eye", "right_eye", "left_lashes", "right_lashes", "skin"):
        assert de[regions[part]].max() < 0.5, part
    assert de[_core(regions["left_pupil"] | regions["right_pupil"], 1)].max() < 3.0


def test_all_colour_effects_together_stay_on_the_face(face):
    """Every colour effect at once (the `fresh` kind of edit): the background and the hair a pixel
    beyond the face outline are byte-identical."""
    img, pts, regions, _ = face
    out = retouch(img, [pts], Adjustments(**dict.fromkeys(COLOUR_EFFECTS, 1.0)))
    keep = _beyond_face(regions)
    assert np.array_equal(out[keep], img[keep])
    assert np.any(out != img, axis=2).sum() > 5000


def test_cli_flags_for_every_colour_effect(capsys):
    """Each colour effect has its flag (`--NAME AMOUNT[:COLOR]` where it has a colour) and a line in
    --list; a bad value is one line naming its flag."""
    from pipnet106.cli.main import build_parser
    from pipnet106.cli.retouch import adjustments_from_args

    argv = ["retouch", "x.jpg", "--teeth-whiten", "0.5", "--eye-brighten", "0.4", "--under-eye", "0.6",
            "--skin-tone", "0.3", "--eyeliner", "0.8:#102030", "--eyeliner-width", "0.7", "--eyeshadow", "0.5:plum",
            "--brow-tint", "0.4", "--lens", "0.9:00ff00"]
    adj = adjustments_from_args(build_parser(argv).parse_args(argv))
    assert (adj.teeth_whiten, adj.eye_brighten, adj.under_eye, adj.skin_tone) == (0.5, 0.4, 0.6, 0.3)
    assert adj.eyeliner == 0.8 and adj.eyeliner_color == (16, 32, 48) and adj.eyeliner_width == 0.7
    assert adj.eyeshadow_color == (110, 40, 80) and adj.lens_color == (0, 255, 0) and adj.brow_tint == 0.4
    for bad, flag in ((["--lens", "2"], "--lens"), (["--teeth-whiten", "0.5:red"], "--teeth-whiten"),
                      (["--eyeshadow", "0.5:nocolour"], "--eyeshadow"), (["--eyeliner-width", "0"], "--eyeliner-width")):
        a = ["retouch", "x.jpg", *bad]
        with pytest.raises(UserError, match=flag):
            adjustments_from_args(build_parser(a).parse_args(a))
    # the colour names the docs use for the eye effects (docs/beauty.md: --lens 0.6:green)
    for name, flag, key in (("green", "--lens", "lens_color"), ("black", "--eyeliner", "eyeliner_color"),
                            ("brown", "--brow-tint", "brow_color"), ("gold", "--eyeshadow", "eyeshadow_color")):
        a = ["retouch", "x.jpg", flag, f"0.5:{name}"]
        assert getattr(adjustments_from_args(build_parser(a).parse_args(a)), key) == NAMED_COLORS[name]
    from pipnet106.cli import main

    assert main(["retouch", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in COLOUR_EFFECTS + ("v_face", "cheekbone", "forehead", "eye_tilt"):
        assert "--" + name.replace("_", "-") in listed, name
