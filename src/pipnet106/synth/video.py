"""Synthetic video clips with exactly known landmarks, to measure and test the video tracker.

A clip is a script of keyframes per face (centre, size, yaw, pitch, roll), linearly
interpolated; each frame draws the faces with `synth.render_face` (same seed every frame, so the
same person in a new pose) over a fixed background, then adds fresh pixel noise. The default
script (`default_script`) has the situations that break trackers: a still face, a pan, a fast
zoom in and out, a head turn, a fast move with roll, and a second face that slides in from the
right edge, stays, and leaves again. Every frame also says whether the main face is still or
moving, so benchmarks can measure jitter (still) and lag (moving) separately.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .faces import _background, render_face


@dataclass
class FaceScript:
    """One face's path: keyframes {frame: (cx, cy, size, yaw, pitch, roll)}, present in [start, end)."""

    seed: int
    keys: dict[int, tuple[float, float, float, float, float, float]]
    start: int = 0
    end: int = 1 << 30

    def at(self, frame: int) -> tuple[float, ...] | None:
        if not self.start <= frame < self.end:
            return None
        ks = sorted(self.keys)
        if frame <= ks[0]:
            return self.keys[ks[0]]
        if frame >= ks[-1]:
            return self.keys[ks[-1]]
        j = int(np.searchsorted(ks, frame, side="right"))
        a, b = ks[j - 1], ks[j]
        w = (frame - a) / (b - a)
        return tuple((1 - w) * np.asarray(self.keys[a]) + w * np.asarray(self.keys[b]))


@dataclass
class ClipScript:
    """Faces (the first is the main one), frame size, length, frame rate and pixel noise."""

    faces: list[FaceScript]
    width: int = 480
    height: int = 360
    frames: int = 180
    fps: float = 30.0
    noise: float = 4.0
    still: list[tuple[int, int]] = field(default_factory=list)
    """Frame ranges [a, b) in which the main face does not move."""

    def is_still(self, frame: int) -> bool:
        return any(a <= frame < b for a, b in self.still)


def default_script(frames: int = 180, width: int = 480, height: int = 360, noise: float = 4.0) -> ClipScript:
    """The standard test clip (30 fps, 6 s at the default length): see the module docstring.

    Main face (id 0), size 110 px (about 48 px between the outer eye corners):
      0-30 still, 30-60 pan right 72 px, 60-66 zoom in to 1.7x in a fifth of a second, 66-90 back
      out, 90-110 turn to 35 degrees yaw with 10 degrees roll, 110-125 turn back, 125-140 a fast move
      (8 px per frame) with roll, 140-141 a jump of half a face width (a whip pan), 141-150 settle
      with the roll undone, 150-180 still.
    Second face (id 1), 70 px: slides in from the right edge at frames 40-60, stays, leaves 120-140.
    Shorter `frames` cut the script (keyframes scale with it).
    """
    k = frames / 180.0

    def f(x: float) -> int:
        return int(round(x * k))

    cx, cy = 0.42 * width, 0.5 * height
    s = 110.0 * min(width / 480, height / 360)
    main = FaceScript(seed=11, keys={
        f(0): (cx, cy, s, 0, 0, 0), f(30): (cx, cy, s, 0, 0, 0),
        f(60): (cx + 0.15 * width, cy, s, 0, 0, 0),
        f(66): (cx + 0.15 * width, cy, 1.7 * s, 0, 0, 0), f(90): (cx + 0.15 * width, cy, s, 0, 0, 0),
        f(110): (cx + 0.15 * width, cy, s, 35, 5, 10), f(125): (cx + 0.15 * width, cy, s, 0, 0, 0),
        f(140): (cx - 0.1 * width, cy + 0.05 * height, s, 0, 0, -15),
        f(140) + 1: (cx - 0.22 * width, cy + 0.05 * height, s, 0, 0, -15),
        f(150): (cx - 0.22 * width, cy + 0.05 * height, s, 0, 0, 0),
        f(180): (cx - 0.22 * width, cy + 0.05 * height, s, 0, 0, 0)})
    b = 70.0 * min(width / 480, height / 360)
    second = FaceScript(seed=23, start=f(40), end=f(140), keys={
        f(40): (width + 0.3 * b, 0.25 * height, b, 0, 0, 0), f(60): (width - 0.8 * b, 0.25 * height, b, 10, 0, 0),
        f(120): (width - 0.8 * b, 0.25 * height, b, -10, 0, 0), f(140): (width + 0.3 * b, 0.25 * height, b, 0, 0, 0)})
    return ClipScript([main, second], width, height, frames, 30.0, noise,
                      still=[(f(0), f(30)), (f(150), f(180))])


def render_clip(script: ClipScript, seed: int = 0) -> Iterator[tuple[np.ndarray, dict[int, np.ndarray]]]:
    """Yield (frame BGR uint8, {face index: (106, 2) true points}) for every frame.

    Points of a face partly outside the frame may lie outside the image; a face is in the dict
    only in the frames where it is present.
    """
    rng = np.random.default_rng(seed)
    base = _background(np.random.default_rng([seed, 99]), script.width, script.height)  # shapes, no face
    for i in range(script.frames):
        img = base
        truth = {}
        for j, face in reversed(list(enumerate(script.faces))):  # the main face in front
            p = face.at(i)
            if p is None:
                continue
            x, y, size, yaw, pitch, roll = p
            img, pts = render_face(np.random.default_rng(face.seed), script.width, script.height, yaw=yaw,
                                   pitch=pitch, roll=roll, scale=size, centre=(x, y), background=img,
                                   photometric=False, vary=0.5)
            truth[j] = pts
        noisy = img.astype(np.float32) + rng.normal(0.0, script.noise, img.shape).astype(np.float32)
        yield np.clip(noisy + 0.5, 0, 255).astype(np.uint8), truth


__all__ = ["FaceScript", "ClipScript", "default_script", "render_clip"]


def _match(faces_pts: list[np.ndarray], truth: dict[int, np.ndarray], iod: dict[int, float]) -> dict[int, int]:
    """Truth face -> index of the output face whose points' centre is nearest (within one IOD)."""
    out: dict[int, int] = {}
    used: set[int] = set()
    pairs = []
    for j, t in truth.items():
        for k, p in enumerate(faces_pts):
            d = float(np.linalg.norm(np.nanmean(p, 0) - t.mean(0)))
            pairs.append((d / iod[j], j, k))
    for d, j, k in sorted(pairs):
        if d < 1.0 and j not in out and k not in used:
            out[j] = k
            used.add(k)
    return out


def _mean(x: np.ndarray) -> float:
    """Mean of the finite values (NaN when there are none, without a warning)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def tracking_metrics(script: ClipScript, truths: list[dict[int, np.ndarray]], outputs: list[list[np.ndarray]],
                     drift_nme: float = 0.10, settle: int = 5) -> dict:
    """Per-face accuracy of a tracker's points on a clip, in units of the true outer-eye distance (IOD).

    `outputs[i]`: the (106, 2) point arrays the tracker reported for frame i. For the main face:
    `jitter_still` (mean point movement between consecutive still frames, skipping `settle` frames
    after each still segment starts), `nme_moving` (lag: error on moving frames), `nme_still`,
    `drift_frames` (frames above `drift_nme`) and `max_drift_run` (longest run of them). For every
    face: frames present, frames tracked, `first_tracked` delay after it appears. `ghost_faces`:
    reported faces that match no true face (e.g. boxes left where a face was).
    """
    from ..layout import LAPA106

    n = len(truths)
    per_face: dict[int, dict] = {}
    nme = {j: np.full(n, np.nan) for j in range(len(script.faces))}
    pts_main = np.full((n, 106, 2), np.nan)
    ghosts = 0
    for i, (truth, outs) in enumerate(zip(truths, outputs)):
        iod = {j: float(LAPA106.norm_distance(t)) for j, t in truth.items()}
        m = _match(outs, truth, iod)
        ghosts += len(outs) - len(m)
        for j, k in m.items():
            nme[j][i] = float(np.linalg.norm(outs[k] - truth[j], axis=-1).mean() / iod[j])
            if j == 0:
                pts_main[i] = outs[k]
    for j in range(len(script.faces)):
        present = np.array([j in t for t in truths])
        tracked = present & np.isfinite(nme[j])
        first = int(np.argmax(present)) if present.any() else -1
        per_face[j] = {"frames_present": int(present.sum()), "frames_tracked": int(tracked.sum()),
                       "first_tracked_after": (int(np.argmax(tracked)) - first) if tracked.any() else None,
                       "nme_mean": _mean(nme[j]) if tracked.any() else None}
    main = nme[0]
    still = np.array([script.is_still(i) for i in range(n)])
    settled = np.array([still[i] and all(still[max(0, i - settle):i + 1]) and i >= settle for i in range(n)])
    iod0 = np.array([LAPA106.norm_distance(t[0]) if 0 in t else np.nan for t in truths])
    step = np.linalg.norm(np.diff(pts_main, axis=0), axis=-1).mean(-1) / iod0[1:]
    use = settled[1:] & settled[:-1]
    bad = np.nan_to_num(main, nan=1.0) > drift_nme
    runs, run = [], 0
    for b in bad:
        run = run + 1 if b else 0
        runs.append(run)
    per_face[0].update({
        "jitter_still": _mean(step[use]), "nme_still": _mean(main[still]),
        "nme_moving": _mean(main[~still]), "drift_frames": int(bad.sum()),
        "max_drift_run": int(max(runs) if runs else 0), "nme_per_frame": [round(float(v), 4) for v in main]})
    return {"faces": per_face, "ghost_faces": int(ghosts)}


__all__ += ["tracking_metrics"]
