"""Before/after pictures and the preset table for the README, made from the shipped demo photo.

    python tools/retouch_examples.py            # writes docs/images/retouch_*.jpg
    python tools/retouch_examples.py --table    # prints the README's preset table (markdown)

Every picture is computed: landmarks by the shipped starter model, edits by
`pipnet106.retouch` on the full photo, then face crops enlarged 2x for display.
The blush picture adds flat synthetic skins (the template face, `synth.template`)
in tones of the Monk Skin Tone scale, from light to deep, with the Lab values
measured at the cheek.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from pipnet106.fileio import atomic_write_image
from pipnet106.infer.landmarker import Landmarker
from pipnet106.retouch import PRESETS, SHAPE_PARAMS, Adjustments, retouch
from pipnet106.shape.frame import face_frame
from pipnet106.retouch.masks import face_mask
from pipnet106.shape.frame import LEFT_BROW, LEFT_EYE, MOUTH_INNER, MOUTH_OUTER, RIGHT_BROW, RIGHT_EYE
from pipnet106.retouch.makeup import cheek_centres
from pipnet106.retouch.masks import face_outline
from pipnet106.retouch.params import PRESET_USES
from pipnet106.retouch.warp import template_shift
from pipnet106.synth.faces import template

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "pipnet106" / "assets" / "demo" / "group4.jpg"
# sRGB of the Monk Skin Tone scale (Google, 2022), orbs 2, 4, 6, 7, 8, 9
SKIN_TONES = {"MST 2": (0xF3, 0xE7, 0xDB), "MST 4": (0xEA, 0xDA, 0xBA), "MST 6": (0xA0, 0x7E, 0x56),
              "MST 7": (0x82, 0x5C, 0x43), "MST 8": (0x60, 0x41, 0x34), "MST 9": (0x3A, 0x31, 0x2A)}


def crop(img: np.ndarray, box, size: int = 256, pad: float = 0.35) -> np.ndarray:
    """Square crop around a face box (moved inside the image), resized to size x size."""
    x0, y0, x1, y1 = box
    s = int(min(max(x1 - x0, y1 - y0) * (1 + pad), *img.shape[:2]))
    a = int(np.clip((x0 + x1) / 2 - s / 2, 0, img.shape[1] - s))
    b = int(np.clip((y0 + y1) / 2 - s / 2, 0, img.shape[0] - s))
    return cv2.resize(img[b:b + s, a:a + s], (size, size), interpolation=cv2.INTER_CUBIC)


def label(panel: np.ndarray, text: str) -> np.ndarray:
    panel = panel.copy()
    cv2.rectangle(panel, (0, panel.shape[0] - 20), (panel.shape[1], panel.shape[0]), (0, 0, 0), -1)
    cv2.putText(panel, text, (4, panel.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def preset_table() -> str:
    """The README's preset table: purpose and largest move on a 180 px face at strength 1 and 2."""
    rows = ["| preset | largest move, 180 px face | at `--strength 2` | share of the face width | what it is for |",
            "|---|---|---|---|---|"]
    for name, adj in PRESETS.items():
        one, two = template_shift(adj), template_shift(adj.scaled(2.0))
        rows.append(f"| `{name}` | {one:.1f} px | {two:.1f} px | {100 * one / 180:.1f}% | {PRESET_USES[name]} |")
    return "\n".join(rows)


def _lab(bgr: np.ndarray) -> np.ndarray:
    px = bgr.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_BGR2Lab).reshape(-1, 3).mean(0)


def synthetic_face(rgb: tuple[int, int, int], size: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image, points): the template face filled with one skin colour, lit from above, with fine
    texture; eyes, brows and lips drawn darker. A flat skin shows the blush's colour alone."""
    t = template()
    pts = (t - t.min(0)) * (0.8 * size / np.ptp(t[:, 0])) + [0.1 * size, 0.12 * size]
    fr = face_frame(pts)
    img = np.full((size, size, 3), (70, 90, 80), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(face_outline(pts, fr)).astype(np.int32)], 1)
    shade = np.linspace(1.06, 0.9, size, dtype=np.float32)[:, None, None]
    noise = np.random.default_rng(seed).normal(0, 2.5, (size, size, 3)).astype(np.float32)
    skin = np.clip(np.array(rgb[::-1], np.float32) * shade + noise, 0, 255).astype(np.uint8)
    img[mask > 0] = skin[mask > 0]
    dark = tuple(int(c * 0.45) for c in rgb[::-1])
    for ring in (LEFT_EYE, RIGHT_EYE, LEFT_BROW, RIGHT_BROW):
        cv2.fillPoly(img, [np.round(pts[ring]).astype(np.int32)], dark, cv2.LINE_AA)
    lips = (int(rgb[2] * 0.6), int(rgb[1] * 0.55), int(rgb[0] * 0.8))
    cv2.fillPoly(img, [np.round(pts[MOUTH_OUTER]).astype(np.int32)], lips, cv2.LINE_AA)
    cv2.fillPoly(img, [np.round(pts[MOUTH_INNER]).astype(np.int32)], (40, 40, 60), cv2.LINE_AA)
    return img, pts


def blush_tones(img: np.ndarray, faces: list, amount: float = 0.8) -> np.ndarray:
    """Blush on the demo photo's faces and on synthetic skins from light to deep, before / after,
    each labelled with the cheek's Lab lightness and hue before -> after. Prints the numbers."""
    adj = Adjustments(blush=amount)
    out = retouch(img, faces, adj)
    cols = []
    for f in faces:
        c = cheek_centres(f.points, face_frame(f))[0]
        r = max(2, int(0.03 * face_frame(f).scale))
        x, y = int(c[0]), int(c[1])
        before, after = (_lab(im[y - r:y + r + 1, x - r:x + r + 1]) for im in (img, out))
        cols.append(_pair(crop(img, f.box, size=160), crop(out, f.box, size=160), before, after, "photo"))
    for name, rgb in SKIN_TONES.items():
        syn, pts = synthetic_face(rgb)
        res = retouch(syn, [pts], adj)
        x, y = np.round(cheek_centres(pts, face_frame(pts))[0]).astype(int)
        before, after = (_lab(im[y - 2:y + 3, x - 2:x + 3]) for im in (syn, res))
        box = (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())
        cols.append(_pair(crop(syn, box, size=160, pad=0.1), crop(res, box, size=160, pad=0.1),
                          before, after, name))
    return np.concatenate(cols, axis=1)


def _pair(before_img, after_img, before, after, name: str) -> np.ndarray:
    hue = lambda lab: float(np.degrees(np.arctan2(lab[2], lab[1])))
    chroma = lambda lab: float(np.hypot(lab[1], lab[2]))
    print(f"blush {name:6s} L {before[0]:5.1f} -> {after[0]:5.1f}  C {chroma(before):5.1f} -> {chroma(after):5.1f}"
          f"  hue {hue(before):5.1f} -> {hue(after):5.1f}")
    return np.concatenate([label(before_img, f"{name} L{before[0]:.0f} h{hue(before):.0f}"),
                           label(after_img, f"blush: h{hue(after):.0f} C{chroma(before):.0f}>{chroma(after):.0f}")],
                          axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    ap.add_argument("--table", action="store_true", help="print the README's preset table and exit")
    a = ap.parse_args()
    if a.table:
        print(preset_table())
        return
    out = Path(a.out)
    img = cv2.imread(str(DEMO))
    lm = Landmarker.default()
    faces = lm.predict(img)
    faces = sorted(faces, key=lambda f: f.box[0])
    # 1) presets on two faces
    rows = []
    for f in (faces[2], faces[3]):
        panels = [label(crop(img, f.box), "original")]
        for name in ("natural", "glam", "strong"):
            panels.append(label(crop(retouch(img, [f], PRESETS[name]), f.box), name))
        rows.append(np.concatenate(panels, axis=1))
    atomic_write_image(out / "retouch_presets.jpg", np.concatenate(rows, axis=0), quality=80)
    # 2) each shape adjustment at -1 and +1
    f = faces[2]
    cols = []
    for name in SHAPE_PARAMS:
        pair = [label(crop(retouch(img, [f], Adjustments(**{name: v})), f.box, size=128, pad=0.2), f"{name} {v:+.0f}")
                for v in (-1.0, 1.0)]
        cols.append(np.concatenate(pair, axis=0))
    grid = np.concatenate(cols, axis=1)
    half = (len(cols) + 1) // 2
    w = cols[0].shape[1]
    grid = np.concatenate([grid[:, :half * w], grid[:, half * w:] if len(cols) % 2 == 0 else
                           np.concatenate([grid[:, half * w:], np.zeros_like(cols[0])], axis=1)], axis=0)
    atomic_write_image(out / "retouch_adjustments.jpg", grid, quality=80)
    # 3) masks
    f = faces[3]
    overlay = img.astype(np.float32)
    for region, color in (("skin", (80, 200, 80)), ("lips", (60, 60, 230)), ("eyes", (230, 160, 40)),
                          ("brows", (200, 60, 200))):
        m = face_mask(f, region, img.shape)[..., None]
        overlay = overlay * (1 - 0.55 * m) + np.array(color, np.float32) * 0.55 * m
    masks = np.concatenate([label(crop(img, f.box), "original"),
                            label(crop(np.clip(overlay, 0, 255).astype(np.uint8), f.box), "skin lips eyes brows")], axis=1)
    atomic_write_image(out / "retouch_masks.jpg", masks, quality=80)
    # 4) blush on several skin tones
    atomic_write_image(out / "retouch_blush_tones.jpg", blush_tones(img, faces), quality=85)
    for p in sorted(out.glob("retouch_*.jpg")):
        print(f"{p} {p.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
