"""Makeup on top of the masks: lipstick, blush, skin smoothing.

Each effect computes a full-strength result over its region's box and blends it
into the image by `amount x mask` in BGR, so where the mask is 0 the pixel is
left exactly as it was; the masks are 0 outside the face's own region
(`masks.own_region`). Colours are changed in CIE Lab. Lipstick moves the chroma
(a, b) to the target colour and shifts the lightness only by part of its mean
difference, so the lips keep their texture, creases and highlights. Blush is the blush
colour *at the skin's own lightness*: its hue, with a chroma scaled by the
square root of the skin's lightness (sampled on the cheeks) over the colour's,
added as a shift of (a, b) with a slight deepening, each pixel keeping its own
lightness texture. A fixed tint (the earlier
per-channel gain) pushed every skin to the same salmon hue and raised a dark
skin's chroma by ~60%, which reads as painted round patches. Skin
smoothing is a guided filter (He et al., "Guided Image Filtering"; the fast
variant computes its coefficients at reduced resolution), edge-preserving by
construction: flat skin texture is averaged, real edges (nostrils, jaw line,
hair) keep their contrast, and the skin mask keeps it off eyes, brows and lips.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..shape.frame import (LEFT_EYE, MOUTH_LEFT, MOUTH_RIGHT, RIGHT_EYE, FaceFrame)
from .masks import faded, region_mask, region_mask_small, visible_weight

LIP_LIGHTNESS = 0.5     # fraction of the mean lightness difference to the lipstick that is applied
BLUSH_STRENGTH = 0.45   # blush opacity at amount 1, at the cheek's centre
# the blush's chroma is scaled by (skin L* / blush L*) ** BLUSH_K_POWER, within BLUSH_K: 1 keeps the
# blush's saturation (chroma / lightness), which leaves a deep skin (L* 20-30) with a barely visible
# shift; 0 keeps its chroma, the bright patch; 1/2 gives a deep skin a muted berry, a pale one a pink
BLUSH_K_POWER = 0.5
BLUSH_K = (0.3, 1.25)
# L* the blush takes off per unit of chroma shift at full strength: a flush deepens the skin; at
# constant lightness a cooler hue reads as a paler, chalky disc on brown skin
BLUSH_DEEPEN = 0.3
SMOOTH_RES = 96.0       # guided-filter pixels per face scale
SMOOTH_RADIUS = 4       # box radius at that resolution (about 0.04 face scales)
SMOOTH_EPS = 0.0025     # guided-filter variance threshold (intensities in [0, 1]): texture below ~0.05 is smoothed
# skin_tone at amount 1 (mask 1): L* added (less on skin already near white) and a* added (rosier)
SKIN_LIGHT = 8.0
SKIN_ROSE = 3.0
BAND_PX = 128           # rows per band of the full-resolution pass (`_apply_gain`)


def _lab_of(rgb: tuple[int, int, int]) -> np.ndarray:
    px = np.array([[[rgb[2], rgb[1], rgb[0]]]], np.float32) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_BGR2Lab)[0, 0]


def _blend(out: np.ndarray, box: tuple[int, int, int, int], target: np.ndarray, alpha: np.ndarray) -> None:
    """out[box] += alpha * (target - out[box]) in BGR, rounded; alpha 0 leaves pixels exactly as they were.

    `target` is a (h, w, 3) array or one BGR colour. OpenCV's element-wise operations do the same
    float32 arithmetic as numpy's (subtract, multiply, add, then round half to even and saturate)
    with half the passes over memory: 2x faster, the same bytes.
    """
    x0, y0, x1, y1 = box
    region = out[y0:y1, x0:x1]
    src = region.astype(np.float32)
    if np.ndim(target) == 1:
        diff = np.asarray(target, np.float32) - src
    else:
        diff = cv2.subtract(np.asarray(target, np.float32), src)
    cv2.multiply(diff, cv2.merge([np.asarray(alpha, np.float32)] * 3), dst=diff)
    cv2.add(src, diff, dst=region, dtype=cv2.CV_8U)   # rounds half to even and saturates, as np.rint + clip


def _recolor(bgr_u8: np.ndarray, rgb: tuple[int, int, int], weight: np.ndarray, lightness: float,
             light8: np.ndarray | None = None) -> np.ndarray:
    """Full-strength recolour in Lab: chroma of `rgb`, own lightness shifted by part of the mean difference.

    Only the lightness varies per pixel, so the result is a 256-entry table over the 8-bit Lab
    lightness (one fast 8-bit conversion of the region instead of two float ones). `light8`: that
    lightness, when the caller has it already.
    """
    light = cv2.cvtColor(bgr_u8, cv2.COLOR_BGR2Lab)[..., 0] if light8 is None else light8   # L * 255 / 100
    t = _lab_of(rgb)
    wsum = float(weight.sum())
    mean_l = float((light * weight).sum() / wsum) if wsum > 1e-6 else float(light.mean())
    shift = lightness * (t[0] * 2.55 - mean_l)
    table = np.empty((256, 1, 3), np.float32)
    table[:, 0, 0] = np.clip(np.arange(256, dtype=np.float32) + shift, 0, 255) / 2.55
    table[:, 0, 1], table[:, 0, 2] = t[1], t[2]
    table = np.clip(cv2.cvtColor(table, cv2.COLOR_Lab2BGR) * 255.0, 0, 255)
    return cv2.LUT(cv2.merge([light] * 3), table)     # = table[light], 6x faster than numpy's indexing


def lipstick(out: np.ndarray, face, frame: FaceFrame, rgb: tuple[int, int, int], amount: float,
             vis: np.ndarray | None = None) -> None:
    """Recolour the lips (outer minus inner mouth, inside the face's own region) in place; faded near
    points that `vis` (per-point visibility) marks as occluded."""
    box, m = region_mask(face, "lips", out.shape, frame=frame)
    if not m.size or amount <= 0:
        return
    x0, y0, x1, y1 = box
    target = _recolor(out[y0:y1, x0:x1], rgb, m, LIP_LIGHTNESS)
    m = faded(m, np.asarray(getattr(face, "points", face), np.float64), vis, frame.scale, box)
    _blend(out, box, target, m * float(amount))


def cheek_centres(points: np.ndarray, frame: FaceFrame) -> list[np.ndarray]:
    """Between each eye and its mouth corner, moved outward: where blush goes."""
    out = []
    for ring, corner, side in ((LEFT_EYE, MOUTH_LEFT, -1.0), (RIGHT_EYE, MOUTH_RIGHT, 1.0)):
        c = 0.45 * points[ring].mean(0) + 0.55 * points[corner] + side * 0.18 * frame.scale * frame.u
        out.append(c)
    return out


def _guided_coefficients(small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Self-guided filter q = a * I + b per channel (a, b box-averaged), at the small resolution."""
    k = (2 * SMOOTH_RADIUS + 1, 2 * SMOOTH_RADIUS + 1)
    mean = cv2.boxFilter(small, -1, k, borderType=cv2.BORDER_REFLECT)
    var = cv2.boxFilter(small * small, -1, k, borderType=cv2.BORDER_REFLECT) - mean * mean
    a = var / (var + SMOOTH_EPS)
    b = mean - a * mean
    return cv2.boxFilter(a, -1, k, borderType=cv2.BORDER_REFLECT), cv2.boxFilter(b, -1, k, borderType=cv2.BORDER_REFLECT)


def skin_effects(out: np.ndarray, points: np.ndarray, frame: FaceFrame, smooth: float = 0.0,
                 blush: float = 0.0, blush_rgb: tuple[int, int, int] = (235, 120, 130), tone: float = 0.0,
                 vis: np.ndarray | None = None) -> None:
    """Skin smoothing, blush and skin tone in place, fused into one full-resolution pass `I * A + B`.

    Both are computed at ~SMOOTH_RES px per face scale: the guided filter's coefficients
    (smoothed = a * I + b, blended by amount x skin mask: A = 1 + alpha (a - 1), B = alpha b) and
    the blush, an offset added to B inside soft ellipses on the cheeks (`blush_shift`: a chroma
    shift in Lab, so the skin's texture shows through). Only A and B are resized to full
    resolution; where the mask is 0, A = 1 and B = 0 and the pixel comes back unchanged. Skin
    tone is one more offset in B (`tone_shift`), so the skin mask alone bounds it: hair, eyes,
    lips and the background keep their colour. `vis` fades all three near occluded points.
    """
    if smooth <= 0 and blush <= 0 and tone <= 0:
        return
    box, m = region_mask_small(points, "skin", out.shape, SMOOTH_RES, frame=frame)
    if not m.size:
        return
    x0, y0, x1, y1 = box
    w = visible_weight(points, vis, frame.scale, box, size=(m.shape[1], m.shape[0]))
    m = m if w is None else m * w
    img = out[y0:y1, x0:x1]
    hl, wl = m.shape
    # point-sampled (bilinear) rather than area-averaged: 30x cheaper, and the filter only needs local
    # means and variances, which sampling keeps
    small = cv2.resize(img, (wl, hl), interpolation=cv2.INTER_LINEAR).astype(np.float32) * (1.0 / 255.0)
    A = np.ones((hl, wl, 3), np.float32)
    B = np.zeros((hl, wl, 3), np.float32)
    if smooth > 0:
        a, b = _guided_coefficients(small)
        alpha = (m * float(smooth))[..., None]
        A += alpha * (a - 1.0)
        B += alpha * b * 255.0
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2Lab) if blush > 0 or tone > 0 else None   # shared by both
    if blush > 0:
        sx, sy = (x1 - x0) / wl, (y1 - y0) / hl
        X, Y = np.meshgrid(x0 + (np.arange(wl, dtype=np.float32) + 0.5) * sx, y0 + (np.arange(hl, dtype=np.float32) + 0.5) * sy)
        alpha = np.zeros((hl, wl), np.float32)
        ra, rb = 0.26 * float(frame.scale), 0.17 * float(frame.scale)
        (ux, uy), (vx, vy) = (float(v) for v in frame.u), (float(v) for v in frame.v)  # Python floats: float32 maths
        for c in cheek_centres(points, frame):
            dx, dy = X - float(c[0]), Y - float(c[1])
            ua = (dx * ux + dy * uy) / ra
            vb = (dx * vx + dy * vy) / rb
            s2 = np.minimum(ua * ua + vb * vb, 1.0)
            alpha = np.maximum(alpha, (1.0 - s2) ** 2)
        alpha *= m
        B += (alpha * (BLUSH_STRENGTH * float(blush)))[..., None] * blush_shift(small, alpha, blush_rgb, lab)
    if tone > 0:
        B += (m * float(tone))[..., None] * tone_shift(small, lab)
    _apply_gain(out, box, A if smooth > 0 else None, B, active=m > 0)


def tone_shift(small: np.ndarray, lab: np.ndarray | None = None) -> np.ndarray:
    """Full-strength skin tone as a BGR offset (0..255 units) per pixel of `small` (BGR float in [0, 1];
    `lab` its Lab, when the caller has it): L* + SKIN_LIGHT (tapered above L* 85 so a pale skin does
    not burn out) and a* + SKIN_ROSE."""
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2Lab) if lab is None else lab
    moved = lab.copy()
    moved[..., 0] += SKIN_LIGHT * np.clip((100.0 - lab[..., 0]) / 15.0, 0.0, 1.0)
    moved[..., 1] += SKIN_ROSE
    return (np.clip(cv2.cvtColor(moved, cv2.COLOR_Lab2BGR), 0.0, 1.0) - small) * 255.0


def blush_shift(small: np.ndarray, weight: np.ndarray, rgb: tuple[int, int, int],
                lab: np.ndarray | None = None) -> np.ndarray:
    """Full-strength blush as a BGR offset (0..255 units) per pixel of `small` (BGR float in [0, 1]).

    The skin's tone is the median Lab over the cheeks (`weight` > half its maximum). The target
    chroma is the blush colour's (a, b) scaled by sqrt(skin L / blush L) (`BLUSH_K_POWER`): the
    blush's hue at a chroma that follows the skin's own lightness, so a pale skin gets a clear pink
    and a dark skin a deeper, muted rose instead of a bright salmon disc. Every pixel's (a, b) moves
    by the skin's distance to that target, and its lightness drops by `BLUSH_DEEPEN` x that
    distance, so texture and shading stay. `lab`: the Lab of `small`, when the caller has it.
    """
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2Lab) if lab is None else lab
    core = weight > 0.5 * float(weight.max())
    if not core.any():
        return np.zeros_like(small)
    skin = np.median(lab[core], axis=0)
    t = _lab_of(rgb)
    k = float(np.clip((skin[0] / max(float(t[0]), 1.0)) ** BLUSH_K_POWER, *BLUSH_K))
    moved = lab.copy()
    shift = t[1:] * k - skin[1:]
    moved[..., 1:] += shift
    moved[..., 0] -= BLUSH_DEEPEN * float(np.hypot(*shift))
    bgr = np.clip(cv2.cvtColor(moved, cv2.COLOR_Lab2BGR), 0.0, 1.0)
    return (bgr - small) * 255.0


def _apply_gain(out: np.ndarray, box: tuple[int, int, int, int], A: np.ndarray | None, B: np.ndarray,
                active: np.ndarray | None = None) -> None:
    """out[box] = out[box] * A + B, rounded, with A and B (small, float32, 3 channels) upsampled bilinearly.

    A None means 1 (no smoothing: blush and skin tone only add B), which saves a resample and a
    multiply. `active` (small, bool): where A or B may differ from 1 and 0 (the mask); only the
    full-resolution pixels whose bilinear samples reach an active cell are computed, per band
    of rows (the face's oval leaves ~30% of its box unchanged, and those pixels are exactly
    unchanged anyway).

    Done in bands of `BAND_PX` rows, each band's A and B resampled by one affine warp of the small
    arrays (the same sampling as `cv2.resize`), so no box-sized float temporaries are allocated:
    on a 1920 px portrait their first touch costs more than the arithmetic. A and B travel as 4
    channels (a pad channel of 1 and 0), which OpenCV warps twice as fast as 3, and the band is
    widened to 4 channels for the arithmetic; the last add writes rounded, saturated uint8 directly.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    hl, wl = B.shape[:2]
    sx, sy = wl / w, hl / h
    A4 = None if A is None else np.concatenate([A, np.ones((hl, wl, 1), np.float32)], axis=2)
    B4 = np.concatenate([B, np.zeros((hl, wl, 1), np.float32)], axis=2)
    if active is None:
        active = np.ones((hl, wl), bool)
    cols = np.arange(w)
    cell = np.clip(np.floor((cols + 0.5) * sx - 0.5).astype(np.int64), -1, wl - 1)   # left sample of each pixel
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP

    for ya in range(0, h, BAND_PX):
        yb = min(ya + BAND_PX, h)
        r0 = max(0, int(np.floor((ya + 0.5) * sy - 0.5)))
        r1 = min(hl, int(np.floor((yb - 0.5) * sy - 0.5)) + 2)
        on = np.nonzero(active[r0:r1].any(axis=0))[0]
        if not len(on):
            continue
        hit = np.nonzero((cell + 1 >= on[0]) & (cell <= on[-1]))[0]    # pixels sampling an active column
        xa, xb = int(hit[0]), int(hit[-1]) + 1
        band = out[y0 + ya:y0 + yb, x0 + xa:x0 + xb]
        M = np.array([[sx, 0.0, (xa + 0.5) * sx - 0.5], [0.0, sy, (ya + 0.5) * sy - 0.5]])
        size = (xb - xa, yb - ya)
        a = None if A4 is None else cv2.warpAffine(A4, M, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        b = cv2.warpAffine(B4, M, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        band4 = cv2.cvtColor(band, cv2.COLOR_BGR2BGRA)
        res = band4.astype(np.float32) if a is None else cv2.multiply(band4, a, dtype=cv2.CV_32F)
        cv2.add(res, b, dst=band4, dtype=cv2.CV_8U)     # rounds half to even and saturates
        cv2.cvtColor(band4, cv2.COLOR_BGRA2BGR, dst=band)
