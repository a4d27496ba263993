"""Colour effects on the eyes, teeth and brows: each confined to a mask drawn from the 106 points.

Every effect computes a full-strength result over its mask's box and blends it in by
`amount x mask x pixel weight` (`makeup._blend`), so a pixel where the mask is 0 comes back
byte-identical. The masks (`masks.polygon_mask`):
 - teeth: inside the inner lip line, 0 on it (the lips stay out); only bright, low-chroma pixels
   (teeth, not the tongue or the dark gap) are lightened and lose part of their yellow;
 - eyes: inside each eye ring, 0 on it (lids and lashes stay out): eye_brighten lightens the
   sclera and iris (not the pupil's black) and takes red out of the sclera; lens recolours a
   circle round the pupil point (its radius a fraction of the eye's width), clipped by the ring;
 - under the eyes: a crescent that starts a gap below the lower lid (the lower lashes stay
   out); each pixel's low-pass colour moves toward the cheek's own tone sampled below it, so the
   dark circle fades while the skin's fine texture stays;
 - eyeliner: a band along the upper lid line, tapering to the inner corner with a short wing at
   the outer one, the eye itself cut out; eyeshadow: the lid between the lid line and the brow,
   softly feathered, the eye and brows cut out; brow_tint: the brows.
Changes are made in CIE Lab (OpenCV's float Lab: L* in 0..100). The amounts at 1 are the
constants below; docs/beauty.md lists them with the measured changes.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..layout import LAPA106
from ..shape.primitives import smooth_ramp
from ..shape.frame import (LEFT_BROW, LEFT_EYE, LEFT_INNER, LEFT_OUTER, MOUTH_INNER, RIGHT_BROW, RIGHT_EYE,
                           RIGHT_INNER, RIGHT_OUTER, FaceFrame)
from .makeup import _blend, _recolor
from .masks import faded, polygon_mask, region_mask

# teeth_whiten: at amount 1, on a tooth pixel
TEETH_RAMP = 0.012          # face scales inside the inner lip line over which the mask rises
TEETH_LIGHT = 12.0          # L* added
TEETH_DECHROMA = 0.5        # fraction of the chroma (mostly yellow) taken out
TEETH_L = (40.0, 60.0)      # L* ramp: darker pixels (the gap, the tongue's shade) are left
TEETH_C = (20.0, 40.0)      # chroma ramp: more saturated pixels (tongue, gums, lip) are left
# eye_brighten
EYE_RAMP = 0.012            # face scales inside the eye ring over which the mask rises
EYE_LIGHT = 8.0             # L* added to sclera and iris
EYE_DARK = (10.0, 30.0)     # L* ramp: the pupil's black stays black
SCLERA_WHITEN = 0.6         # fraction of the sclera's chroma (redness) taken out
SCLERA_L, SCLERA_C = (50.0, 65.0), (15.0, 30.0)   # what counts as sclera: bright, low chroma
# under_eye
UNDER_GAP = 0.035           # face scales below the lower lid where the crescent starts (lashes out)
UNDER_DEPTH = 0.16          # its depth at the middle of the eye (face scales)
UNDER_RAMP = 0.05           # its soft inner ramp (face scales)
UNDER_CHEEK = 0.30          # face scales below the eye centre where the cheek's tone is sampled
UNDER_STRENGTH = 0.8        # fraction of the low-pass gap to the cheek's tone closed
UNDER_BLUR = 0.03           # sigma of the low-pass (face scales): finer texture is kept
# eyeliner
EYELINER_WIDTH = 0.035      # face scales: the widest line (eyeliner_width 1), at the outer corner
EYELINER_TAPER = 0.3        # width at the inner corner / width at the outer corner
EYELINER_WING = 0.25        # eye widths the wing reaches past the outer corner
EYELINER_OPACITY = 0.9
EYELINER_FEATHER = 0.003
# eyeshadow
SHADOW_HEIGHT = 0.55        # fraction of the lid-to-brow height covered
SHADOW_FEATHER = 0.025
SHADOW_OPACITY = 0.55
SHADOW_LIGHTNESS = 0.3      # fraction of the mean lightness difference to the colour applied
# brow_tint
BROW_OPACITY = 0.7
BROW_LIGHTNESS = 0.5
# lens
LENS_RADIUS = 0.21          # iris radius / eye width (corner to corner)
LENS_EDGE = 0.15            # soft outer edge, fraction of the radius
LENS_PUPIL = (0.30, 0.45)   # radius fractions: the pupil stays, the colour rises outside it
LENS_CLIP = 0.012           # face scales inside the eye ring over which the lens rises (clipped by the lids)
LENS_OPACITY = 0.85
LENS_LIGHTNESS = 0.25
LENS_SCLERA_L = (60.0, 75.0)   # pixels brighter than this (sclera inside the circle) are left ...
LENS_BLACK_L = (8.0, 20.0)     # ... and darker than this (lashes over the iris, the pupil's black)

_PUPILS = (LAPA106.landmarks["left_pupil"], LAPA106.landmarks["right_pupil"])
EYES = ((LEFT_EYE, LEFT_OUTER, LEFT_INNER, _PUPILS[0], LEFT_BROW), (RIGHT_EYE, RIGHT_OUTER, RIGHT_INNER, _PUPILS[1],
                                                                     RIGHT_BROW))
"""Per eye: ring, outer corner, inner corner, pupil, brow (image-left first)."""


def upper_lid(points: np.ndarray, ring: np.ndarray, outer: int) -> np.ndarray:
    """The upper lid's points (corner, three lid points, corner), outer corner first.

    A ring runs corner, upper lid, corner, lower lid (the left eye from its outer corner, the
    right from its inner corner), so its first five points are the upper lid either way."""
    idx = ring[:5] if ring[0] == outer else ring[4::-1]
    return points[idx]


def lower_lid(points: np.ndarray, ring: np.ndarray, outer: int) -> np.ndarray:
    """The lower lid's points, corner to corner, outer corner first."""
    idx = np.r_[ring[4:], ring[:1]]
    return points[idx if idx[0] == outer else idx[::-1]]


def _lab(bgr_u8: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.multiply(bgr_u8, np.float32(1.0 / 255.0), dtype=np.float32), cv2.COLOR_BGR2Lab)


def _planes(bgr_u8: np.ndarray) -> list[np.ndarray]:
    """[L*, a*, b*] of a BGR uint8 region as three contiguous float32 planes: per-channel arithmetic
    on planes runs 3-4x faster than on the interleaved array's strided channels."""
    return list(cv2.split(_lab(bgr_u8)))


def _bgr(lab) -> np.ndarray:
    """BGR float32 in 0..255 (clipped) of a Lab array or of [L, a, b] planes."""
    lab = cv2.merge(lab) if isinstance(lab, (list, tuple)) else lab.astype(np.float32, copy=False)
    bgr = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
    np.clip(bgr, 0.0, 1.0, out=bgr)
    return np.multiply(bgr, np.float32(255.0), out=bgr)


def teeth_mask(points: np.ndarray, frame: FaceFrame, shape: tuple[int, ...]):
    """(box, mask): inside the inner lip line, 0 on it."""
    return polygon_mask([points[MOUTH_INNER]], shape, frame.scale, inward=TEETH_RAMP)


def eye_mask(points: np.ndarray, frame: FaceFrame, shape: tuple[int, ...], ramp: float = EYE_RAMP):
    """(box, mask): inside both eye rings, 0 on them (lids and lashes out)."""
    return polygon_mask([points[e[0]] for e in EYES], shape, frame.scale, inward=ramp)


def eyeliner_mask(points: np.ndarray, frame: FaceFrame, shape: tuple[int, ...], width: float = 0.5):
    """(box, mask): both liner bands (`eyeliner_band`), the eyes cut out."""
    bands = [eyeliner_band(points, frame, ring, outer, inner, width) for ring, outer, inner, *_ in EYES]
    return polygon_mask(bands, shape, frame.scale, feather=EYELINER_FEATHER, cut=[points[e[0]] for e in EYES])


def eyeshadow_mask(points: np.ndarray, frame: FaceFrame, shape: tuple[int, ...]):
    """(box, mask): both lids (`lid_region`), softly feathered, the eyes and brows cut out."""
    lids = [lid_region(points, frame, ring, outer, brow) for ring, outer, _, _, brow in EYES]
    return polygon_mask(lids, shape, frame.scale, feather=SHADOW_FEATHER,
                        cut=[points[e[0]] for e in EYES] + [points[e[4]] for e in EYES])


def lens_mask(points: np.ndarray, frame: FaceFrame, shape: tuple[int, ...]):
    """(box, mask): the iris discs (`lens_disc`) clipped by the eye rings (0 on the lid line)."""
    box, m = eye_mask(points, frame, shape, LENS_CLIP)
    return box, (m * lens_disc(points, box, m.shape) if m.size else m)


def teeth_whiten(out: np.ndarray, points: np.ndarray, frame: FaceFrame, amount: float, vis=None) -> None:
    """Teeth lighter and less yellow: inside the inner lip line only, bright low-chroma pixels only."""
    if amount <= 0:
        return
    box, m = teeth_mask(points, frame, out.shape)
    if not m.size:
        return
    x0, y0, x1, y1 = box
    L, a, b = _planes(out[y0:y1, x0:x1])
    w = smooth_ramp(L, *TEETH_L) * (1.0 - smooth_ramp(cv2.magnitude(a, b), *TEETH_C))
    L += TEETH_LIGHT
    a *= 1.0 - TEETH_DECHROMA
    b *= 1.0 - TEETH_DECHROMA
    m = faded(m, points, vis, frame.scale, box)
    _blend(out, box, _bgr([L, a, b]), m * w * float(amount))


def eye_brighten(out: np.ndarray, points: np.ndarray, frame: FaceFrame, amount: float, vis=None) -> None:
    """Sclera and iris lighter (the pupil kept black), the sclera's redness reduced; inside the rings only."""
    if amount <= 0:
        return
    box, m = eye_mask(points, frame, out.shape)
    if not m.size:
        return
    x0, y0, x1, y1 = box
    L, a, b = _planes(out[y0:y1, x0:x1])
    sclera = smooth_ramp(L, *SCLERA_L) * (1.0 - smooth_ramp(cv2.magnitude(a, b), *SCLERA_C))
    L += EYE_LIGHT * smooth_ramp(L, *EYE_DARK)
    keep = 1.0 - SCLERA_WHITEN * sclera
    a *= keep
    b *= keep
    m = faded(m, points, vis, frame.scale, box)
    _blend(out, box, _bgr([L, a, b]), m * float(amount))


def under_eye_crescent(points: np.ndarray, frame: FaceFrame, ring: np.ndarray, outer: int) -> np.ndarray:
    """The polygon below one eye: the lower lid moved down by UNDER_GAP, then UNDER_DEPTH deeper at the middle."""
    lid = lower_lid(points, ring, outer)
    t = np.linspace(0.0, 1.0, len(lid))
    bump = 0.35 + 0.65 * np.sin(np.pi * t)          # deepest under the middle of the eye
    top = lid + frame.v * UNDER_GAP * frame.scale
    bottom = lid + frame.v * (UNDER_GAP + UNDER_DEPTH * bump[:, None]) * frame.scale
    return np.concatenate([top, bottom[::-1]])


def cheek_tone(img: np.ndarray, centre: np.ndarray, frame: FaceFrame) -> np.ndarray | None:
    """Median Lab of a small patch UNDER_CHEEK face scales below an eye's centre (None off the image)."""
    c = centre + frame.v * UNDER_CHEEK * frame.scale
    r = max(1, round(0.05 * frame.scale))
    x, y = int(c[0]), int(c[1])
    patch = img[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
    if patch.size == 0:
        return None
    return np.median(_lab(patch).reshape(-1, 3), axis=0)


def low_pass(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of `img` with `sigma` pixels, computed at 1/k resolution (k = sigma / 3, at least
    1) and resized back: a wide blur (15 px on a 1920 px portrait) costs 1/k^2 as much, and the
    area reduction's own spread (k^2 / 12 px^2 of variance) is under 1% of sigma^2."""
    sigma = max(sigma, 0.5)
    k = max(1, int(sigma // 3))
    if k == 1:
        return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w / k)), max(1, round(h / k))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / k, borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def under_eye(out: np.ndarray, points: np.ndarray, frame: FaceFrame, amount: float, vis=None) -> None:
    """Dark circles: each crescent's low-pass colour moves toward its cheek's tone (lightening only)."""
    if amount <= 0:
        return
    for ring, outer, *_ in EYES:
        tone = cheek_tone(out, points[ring].mean(0), frame)
        poly = under_eye_crescent(points, frame, ring, outer)
        box, m = polygon_mask([poly], out.shape, frame.scale, inward=UNDER_RAMP)
        if tone is None or not m.size:
            continue
        x0, y0, x1, y1 = box
        lab = _lab(out[y0:y1, x0:x1])
        gap = np.subtract(tone.astype(np.float32), low_pass(lab, UNDER_BLUR * frame.scale))
        np.maximum(gap[..., 0], 0.0, out=gap[..., 0])     # lighten the shadow, never darken
        cv2.scaleAdd(gap, UNDER_STRENGTH, lab, dst=lab)   # lab += UNDER_STRENGTH * gap
        m = faded(m, points, vis, frame.scale, box)
        _blend(out, box, _bgr(lab), m * float(amount))


def eyeliner_band(points: np.ndarray, frame: FaceFrame, ring: np.ndarray, outer: int, inner: int,
                  width: float) -> np.ndarray:
    """The liner's polygon above one upper lid: the lid line, a wing past the outer corner, and the
    line's top edge (EYELINER_WIDTH x width face scales at the outer corner, tapering inward)."""
    lid = upper_lid(points, ring, outer)
    up = -frame.v
    ew = float(np.hypot(*(points[outer] - points[inner])))
    t = np.linspace(1.0, EYELINER_TAPER, len(lid))[:, None] * (EYELINER_WIDTH * width * frame.scale)
    out_dir = lid[0] - lid[1]
    out_dir = out_dir / max(float(np.hypot(*out_dir)), 1e-6)
    tip = lid[0] + (out_dir + 0.6 * up) / np.hypot(1.0, 0.6) * EYELINER_WING * ew
    return np.concatenate([tip[None], lid, (lid + up * t)[::-1]])


def eyeliner(out: np.ndarray, points: np.ndarray, frame: FaceFrame, amount: float, rgb: tuple[int, int, int],
             width: float, vis=None) -> None:
    """A line of colour `rgb` along each upper lid (the eye itself cut out)."""
    if amount <= 0:
        return
    box, m = eyeliner_mask(points, frame, out.shape, width)
    if not m.size:
        return
    target = np.array(rgb[::-1], np.float32)
    m = faded(m, points, vis, frame.scale, box)
    _blend(out, box, target, m * (EYELINER_OPACITY * float(amount)))


def lid_region(points: np.ndarray, frame: FaceFrame, ring: np.ndarray, outer: int, brow: np.ndarray) -> np.ndarray:
    """The eyeshadow's polygon: the upper lid line up to SHADOW_HEIGHT of the way to the brow."""
    lid = upper_lid(points, ring, outer)
    height = float((points[ring].mean(0) - points[brow].mean(0)) @ frame.v)
    taper = np.linspace(1.0, 0.75, len(lid))[:, None]
    return np.concatenate([lid, (lid - frame.v * SHADOW_HEIGHT * max(height, 0.0) * taper)[::-1]])


def eyeshadow(out: np.ndarray, points: np.ndarray, frame: FaceFrame, amount: float, rgb: tuple[int, int, int],
              vis=None) -> None:
    """Soft colour on the lids between the lid line and the brows (eyes and brows cut out)."""
    if amount <= 0:
        return
    box, m = eyeshadow_mask(points, frame, out.shape)
    if not m.size:
        return
    x0, y0, x1, y1 = box
    target = _recolor(out[y0:y1, x0:x1], rgb, m, SHADOW_LIGHTNESS)
    m = faded(m, points, vis, frame.scale, box)
    _blend(out, box, target, m * (SHADOW_OPACITY * float(amount)))


def brow_tint(out: np.ndarray, points: np.ndarray, frame: FaceFrame, amount: float, rgb: tuple[int, int, int],
              vis=None) -> None:
    """Brows recoloured toward `rgb`, their lightness texture kept (`makeup._recolor`)."""
    if amount <= 0:
        return
    box, m = region_mask(points, "brows", out.shape, frame=frame)
    if not m.size:
        return
    x0, y0, x1, y1 = box
    target = _recolor(out[y0:y1, x0:x1], rgb, m, BROW_LIGHTNESS)
    m = faded(m, points, vis, frame.scale, box)
    _blend(out, box, target, m * (BROW_OPACITY * float(amount)))


def lens_disc(points: np.ndarray, box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """(h, w) weight of both irises over `box`: a soft disc at each pupil point (radius LENS_RADIUS
    eye widths), the pupil itself left out. Each disc is computed only over its own square."""
    x0, y0, x1, y1 = box
    disc = np.zeros(shape, np.float32)
    for _, outer, inner, pupil, _ in EYES:
        r = LENS_RADIUS * float(np.hypot(*(points[outer] - points[inner])))
        px, py = points[pupil]
        xa, xb = max(x0, int(np.floor(px - r))), min(x1, int(np.ceil(px + r)) + 1)
        ya, yb = max(y0, int(np.floor(py - r))), min(y1, int(np.ceil(py + r)) + 1)
        if xa >= xb or ya >= yb:
            continue
        d = np.hypot((np.arange(xa, xb) + 0.5 - px)[None, :], (np.arange(ya, yb) + 0.5 - py)[:, None])
        one = (1.0 - smooth_ramp(d, (1.0 - LENS_EDGE) * r, r)) * smooth_ramp(d, LENS_PUPIL[0] * r, LENS_PUPIL[1] * r)
        win = disc[ya - y0:yb - y0, xa - x0:xb - x0]
        np.maximum(win, one.astype(np.float32), out=win)
    return disc


def lens(out: np.ndarray, points: np.ndarray, frame: FaceFrame, amount: float, rgb: tuple[int, int, int],
         vis=None) -> None:
    """Coloured lenses: the iris (a disc at the pupil point, clipped by the eye ring) toward `rgb`."""
    if amount <= 0:
        return
    box, m = lens_mask(points, frame, out.shape)
    if not m.size:
        return
    x0, y0, x1, y1 = box
    region = out[y0:y1, x0:x1]
    light8 = cv2.cvtColor(region, cv2.COLOR_BGR2Lab)[..., 0]      # L* x 2.55
    light = light8.astype(np.float32) * np.float32(1.0 / 2.55)
    m = m * (1.0 - smooth_ramp(light, *LENS_SCLERA_L)) * smooth_ramp(light, *LENS_BLACK_L)
    target = _recolor(region, rgb, m, LENS_LIGHTNESS, light8=light8)
    m = faded(m, points, vis, frame.scale, box)
    _blend(out, box, target, m * (LENS_OPACITY * float(amount)))


def eye_and_teeth_effects(out: np.ndarray, points: np.ndarray, frame: FaceFrame, adj, vis=None) -> None:
    """Every effect of this module that `adj` asks for, in place, in a fixed order (under the eyes and
    the eye itself first, then the makeup on top, brows, teeth)."""
    under_eye(out, points, frame, adj.under_eye, vis)
    eye_brighten(out, points, frame, adj.eye_brighten, vis)
    lens(out, points, frame, adj.lens, adj.lens_color, vis)
    eyeshadow(out, points, frame, adj.eyeshadow, adj.eyeshadow_color, vis)
    eyeliner(out, points, frame, adj.eyeliner, adj.eyeliner_color, adj.eyeliner_width, vis)
    brow_tint(out, points, frame, adj.brow_tint, adj.brow_color, vis)
    teeth_whiten(out, points, frame, adj.teeth_whiten, vis)
