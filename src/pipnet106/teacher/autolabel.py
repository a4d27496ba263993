"""Label unlabelled photos with a teacher: MediaPipe Face Mesh -> 106 points.

The teacher predicts 478 mesh points (``refine_landmarks=True``); a fitted
linear table (``assets/mediapipe478_to_106.json``) turns them into the 106-point
LaPa order. MediaPipe 0.10.x pins numpy<2 and protobuf<5, so it lives in its
own environment (``make teacher-env`` -> ``.venv-teacher``); when mediapipe is
not importable here, the command re-runs itself in that environment.

Labels you can trust: the teacher runs on the photo and on its mirror image; the
mirrored points are mapped back with the layout's flip map. A face is kept only
when the two runs agree (NME by outer-eye distance <= `max_disagree`); its label
is the mean of the two runs (flip test-time augmentation of the teacher). Every
face, kept or not, gets a quality record (agreement, face size, head pose from the
points by `pose.head_pose`, pose bucket, cut by the frame) so training can sample by pose.

Output (a new folder; the source is never touched):
  labels/<relative stem>.txt   the largest kept face, 106 lines "x y" (what `prepare` reads)
  autolabel.jsonl              one line per image, written as it goes (``--resume`` continues)
  summary.json                 counts of images, faces kept and dropped, and why
Exit codes: 0 every image processed, 1 finished but some images were skipped
(unreadable, no face found), 2 usage or fatal error.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from ..constants import MESH_TABLE
from ..errors import SampleError, UserError
from ..fileio import JsonlStream, atomic_write_json, atomic_write_text, find_images, read_image
from ..layout import LAPA106, Layout
from ..infer.pose import head_pose

DEFAULT_MAX_DISAGREE = 0.05   # outer-eye NME between the direct and the mirrored run
POSE_BUCKETS = (("frontal", 20.0), ("three_quarter", 45.0), ("profile", 90.0))  # |yaw| upper bounds, degrees


def load_mesh_table() -> tuple[np.ndarray, dict]:
    """Dense (106, 478) weight matrix of the shipped MediaPipe->106 table, and its metadata."""
    text = MESH_TABLE.read_text()
    table = json.loads(text)
    w = np.zeros((LAPA106.num_points, 478))
    for i, row in enumerate(table["rows"]):
        for j, weight in row:
            w[i, j] = weight
    return w, table


def pose_bucket(yaw: float | None) -> str:
    """'frontal' (|yaw| < 20), 'three_quarter' (< 45), 'profile', or 'unknown' (no pose could be fitted)."""
    if yaw is None or not np.isfinite(yaw):
        return "unknown"
    for name, bound in POSE_BUCKETS:
        if abs(yaw) < bound:
            return name
    return POSE_BUCKETS[-1][0]


@dataclass
class TeacherFace:
    points: np.ndarray  # (N, 2) pixels: mean of the direct and the mirrored run when both found it
    flip_nme: float     # disagreement between the two runs (outer-eye NME); inf when the mirror missed it
    face_size: float    # sqrt(w*h) of the landmark box, pixels
    cut: bool           # some landmarks fall outside the frame
    yaw: float | None   # degrees (pose.head_pose; None when no pose could be fitted)
    pitch: float | None
    roll: float | None

    @property
    def pose(self) -> str:
        return pose_bucket(self.yaw)

    def kept(self, max_disagree: float) -> bool:
        return self.flip_nme <= max_disagree

    def to_dict(self, max_disagree: float) -> dict:
        keep = self.kept(max_disagree)
        return {"points": np.round(self.points, 3).tolist(), "kept": keep,
                "drop": None if keep else ("no mirror match" if not np.isfinite(self.flip_nme) else "mirror disagrees"),
                "flip_nme": round(self.flip_nme, 5) if np.isfinite(self.flip_nme) else None,
                "face_size": round(self.face_size, 1), **{k: None if v is None else round(v, 1) for k, v in
                                                            (("yaw", self.yaw), ("pitch", self.pitch), ("roll", self.roll))},
                "pose": self.pose, "cut": self.cut}


def combine_runs(direct: Sequence[np.ndarray], mirrored: Sequence[np.ndarray], width: int, height: int,
                 layout: Layout = LAPA106) -> list[TeacherFace]:
    """Pair each face of the direct run with the mirrored run's face (already mapped back) and score them.

    Pairs by the nearest centre; a mirrored face further than one outer-eye distance
    away (or none at all) is no match and gives flip_nme = inf.
    """
    out = []
    for pts in direct:
        pts = np.asarray(pts, dtype=np.float64)
        iod = max(float(layout.norm_distance(pts)), 1e-6)
        flip_nme, label = float("inf"), pts
        if len(mirrored):
            d = [float(np.linalg.norm(np.mean(m, 0) - pts.mean(0))) for m in mirrored]
            k = int(np.argmin(d))
            if d[k] <= iod:
                m = np.asarray(mirrored[k], dtype=np.float64)
                flip_nme = float(np.linalg.norm(m - pts, axis=1).mean() / iod)
                label = (pts + m) / 2
        x0, y0 = label.min(0)
        x1, y1 = label.max(0)
        cut = bool(x0 < 0 or y0 < 0 or x1 > width or y1 > height)
        pose = head_pose(label, layout)
        angles = (pose.yaw, pose.pitch, pose.roll) if pose is not None else (None, None, None)
        out.append(TeacherFace(label, flip_nme, float(np.sqrt(max(x1 - x0, 0) * max(y1 - y0, 0))), cut, *angles))
    return out


class MeshTeacher:
    """MediaPipe Face Mesh in static-image mode, mapped to 106 points, run on the photo and its mirror."""

    def __init__(self, max_faces: int = 5, min_confidence: float = 0.5) -> None:
        try:
            import mediapipe as mp
        except ImportError:
            raise UserError("the teacher needs mediapipe 0.10.x: run `make teacher-env`") from None
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_confidence)
        self.weights, _ = load_mesh_table()

    def run_once(self, bgr: np.ndarray) -> list[np.ndarray]:
        """The teacher's faces in one image, as (106, 2) pixel points."""
        h, w = bgr.shape[:2]
        res = self._mesh.process(np.ascontiguousarray(bgr[:, :, ::-1]))
        out = []
        for lm in res.multi_face_landmarks or []:
            mesh = np.array([(p.x * w, p.y * h) for p in lm.landmark])
            if len(mesh) == 478:
                out.append(self.weights @ mesh)
        return out

    def __call__(self, bgr: np.ndarray) -> list[TeacherFace]:
        h, w = bgr.shape[:2]
        direct = self.run_once(bgr)
        if not direct:
            return []
        mirrored = [LAPA106.mirror_points(p, w) for p in self.run_once(np.ascontiguousarray(bgr[:, ::-1]))]
        return combine_runs(direct, mirrored, w, h)


def teacher_python() -> str | None:
    env = os.environ.get("PIPNET106_TEACHER_PYTHON")
    if env:
        return env
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        cand = base / ".venv-teacher" / "bin" / "python"
        if cand.exists():
            return str(cand)
    return None


def _select(images: list[Path], max_images: int | None, seed: int) -> list[Path]:
    """A seeded random subset (kept in path order), so a capped run is reproducible and resumable."""
    if not max_images or max_images >= len(images):
        return images
    idx = np.random.default_rng(seed).choice(len(images), size=max_images, replace=False)
    return [images[i] for i in sorted(idx)]


def autolabel(src: str | Path, out: str | Path, *, max_faces: int = 5, overwrite: bool = False,
              resume: bool = False, max_disagree: float = DEFAULT_MAX_DISAGREE, max_images: int | None = None,
              seed: int = 0, teacher: Callable[[np.ndarray], list[TeacherFace]] | None = None) -> dict:
    """Label every image under `src` into `out`; never touches `src`. Returns the summary.

    `teacher` (for tests or another model) maps a BGR image to `TeacherFace`s;
    default: `MeshTeacher`. With `resume`, images already in `out/autolabel.jsonl`
    (or its ``.part`` from a killed run) are not labelled again.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UserError(f"{src}: source folder not found")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise UserError(f"{out}: output folder must not be inside the source folder")
    if not resume and out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: output folder is not empty (use --resume to continue it, --overwrite to start again)")
    if not max_disagree > 0:
        raise UserError(f"--max-disagree must be > 0, got {max_disagree}")
    images = find_images(src, exclude=out, skip_hidden=True)
    if not images:
        raise UserError(f"{src}: no images found")
    images = _select(images, max_images, seed)
    stream = JsonlStream(out / "autolabel.jsonl", resume=resume)
    done = {r["image"] for r in stream.done}
    todo = [p for p in images if str(p.relative_to(src).as_posix()) not in done]
    if resume and stream.done:
        print(f"autolabel: resuming, {len(done)} images already labelled, {len(todo)} to go")
    teacher = teacher or MeshTeacher(max_faces=max_faces)
    try:
        for path in tqdm(todo, desc="autolabel", unit="img"):
            stream.write(_label_one(path, src, out, teacher, max_disagree))
    except BaseException:
        stream.close()
        raise
    stream.finish()
    summary = summarize([json.loads(line) for line in (out / "autolabel.jsonl").read_text().splitlines() if line])
    summary.update({"source": str(src), "max_disagree": max_disagree, "max_images": max_images, "seed": seed,
                    "teacher": "mediapipe face_mesh 478 (refine_landmarks) -> 106, mean of photo and mirror"})
    atomic_write_json(out / "summary.json", summary)
    print(f"autolabel: {summary['labelled_images']}/{summary['images']} images labelled, "
          f"{summary['faces_kept']}/{summary['faces']} faces kept, {summary['skipped_images']} skipped -> {out}")
    for reason, n in summary["skipped_reasons"].items():
        print(f"  skipped: {n} x {reason}")
    for reason, n in summary["dropped_reasons"].items():
        print(f"  faces dropped: {n} x {reason}")
    return summary


def _label_one(path: Path, src: Path, out: Path, teacher, max_disagree: float) -> dict:
    rel = path.relative_to(src)
    rec: dict = {"image": rel.as_posix()}
    try:
        bgr = read_image(path)
    except SampleError as e:
        tqdm.write(f"skip {e}")
        return {**rec, "status": "skipped", "reason": e.reason}
    rec.update(width=int(bgr.shape[1]), height=int(bgr.shape[0]))
    faces = sorted(teacher(bgr), key=lambda f: -f.face_size)
    if not faces:
        return {**rec, "status": "skipped", "reason": "no face found", "faces": []}
    kept = [f for f in faces if f.kept(max_disagree)]
    if kept:  # the largest trusted face is the one `prepare` trains on
        atomic_write_text(out / "labels" / rel.with_suffix(".txt"),
                          "".join(f"{x:.3f} {y:.3f}\n" for x, y in kept[0].points))
    return {**rec, "status": "ok", "label": bool(kept), "faces": [f.to_dict(max_disagree) for f in faces]}


def summarize(records: list[dict]) -> dict:
    """Counts per outcome; pose buckets of the kept faces; quantiles of the agreement."""
    skipped = Counter(r["reason"] for r in records if r["status"] == "skipped")
    faces = [f for r in records for f in r.get("faces", [])]
    kept = [f for f in faces if f["kept"]]
    flip = np.array([f["flip_nme"] for f in faces if f["flip_nme"] is not None])
    return {"images": len(records), "labelled_images": sum(1 for r in records if r.get("label")),
            "skipped_images": sum(skipped.values()), "skipped_reasons": dict(skipped),
            "faces": len(faces), "faces_kept": len(kept),
            "dropped_reasons": dict(Counter(f["drop"] for f in faces if not f["kept"])),
            "kept_pose": dict(Counter(f["pose"] for f in kept)),
            "kept_cut": sum(1 for f in kept if f["cut"]),
            "flip_nme_quantiles": {q: round(float(np.quantile(flip, float(q))), 4) for q in ("0.5", "0.9", "0.99")}
            if len(flip) else {}}


