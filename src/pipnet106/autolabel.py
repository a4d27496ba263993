"""Label unlabelled photos with a teacher: MediaPipe Face Mesh -> 106 points.

The teacher predicts 478 mesh points (``refine_landmarks=True``); a fitted
linear table (``assets/mediapipe478_to_106.json``) turns them into the 106-point
LaPa order. MediaPipe 0.10.x pins numpy<2 and protobuf<5, so it lives in its
own environment (``make teacher-env`` -> ``.venv-teacher``); when mediapipe is
not importable here, the command re-runs itself in that environment.

Quality per face: the teacher is run on the photo and on its mirror image; the
disagreement between the two (NME by outer-eye distance, after mirroring back
with the layout's flip map) is a cheap, honest confidence signal.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import SampleError, UserError
from .fileio import atomic_write_json, atomic_write_text, is_image_file, read_image
from .layout import LAPA106


def load_mesh_table() -> tuple[np.ndarray, dict]:
    """Dense (106, 478) weight matrix of the shipped MediaPipe->106 table, and its metadata."""
    text = resources.files("pipnet106").joinpath("assets/mediapipe478_to_106.json").read_text()
    table = json.loads(text)
    w = np.zeros((LAPA106.num_points, 478))
    for i, row in enumerate(table["rows"]):
        for j, weight in row:
            w[i, j] = weight
    return w, table


@dataclass
class TeacherFace:
    points: np.ndarray  # (106, 2) pixels
    flip_nme: float     # disagreement with the mirrored run (outer-eye NME)
    face_size: float    # sqrt(w*h) of the landmark box, pixels
    cut: bool           # some landmarks fall outside the frame


class MeshTeacher:
    """MediaPipe Face Mesh in static-image mode, mapped to 106 points."""

    def __init__(self, max_faces: int = 5, min_confidence: float = 0.5) -> None:
        try:
            import mediapipe as mp
        except ImportError:
            raise UserError("the teacher needs mediapipe 0.10.x: run `make teacher-env`") from None
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_confidence)
        self.weights, _ = load_mesh_table()

    def _run(self, bgr: np.ndarray) -> list[np.ndarray]:
        h, w = bgr.shape[:2]
        res = self._mesh.process(np.ascontiguousarray(bgr[:, :, ::-1]))
        out = []
        for lm in res.multi_face_landmarks or []:
            mesh = np.array([(p.x * w, p.y * h) for p in lm.landmark])
            if len(mesh) != 478:
                continue
            out.append(self.weights @ mesh)
        return out

    def __call__(self, bgr: np.ndarray) -> list[TeacherFace]:
        h, w = bgr.shape[:2]
        faces = self._run(bgr)
        mirrored = [LAPA106.mirror_points(p, w) for p in self._run(bgr[:, ::-1])]
        out = []
        for pts in faces:
            iod = max(float(LAPA106.norm_distance(pts)), 1e-6)
            if mirrored:
                # match the mirrored face by centre distance
                d = [np.linalg.norm(m.mean(0) - pts.mean(0)) for m in mirrored]
                m = mirrored[int(np.argmin(d))]
                flip_nme = float(np.linalg.norm(m - pts, axis=1).mean() / iod)
            else:
                flip_nme = float("inf")
            x0, y0 = pts.min(0)
            x1, y1 = pts.max(0)
            cut = bool(x0 < 0 or y0 < 0 or x1 > w or y1 > h)
            out.append(TeacherFace(pts, flip_nme, float(np.sqrt((x1 - x0) * (y1 - y0))), cut))
        return out


def _teacher_python() -> str | None:
    env = os.environ.get("PIPNET106_TEACHER_PYTHON")
    if env:
        return env
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        cand = base / ".venv-teacher" / "bin" / "python"
        if cand.exists():
            return str(cand)
    return None


def autolabel(src: str | Path, out: str | Path, max_faces: int = 5, overwrite: bool = False) -> dict:
    """Label every image under `src` into `out/labels/<relative stem>.txt`; never touches `src`.

    The largest face of a photo goes to the per-image text file (the format
    `prepare` reads); every face goes to `out/autolabel.jsonl` with its quality.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UserError(f"{src}: source folder not found")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise UserError(f"{out}: output folder must not be inside the source folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: output folder is not empty (use --overwrite)")
    images = sorted(p for p in src.rglob("*") if p.is_file() and is_image_file(p))
    if not images:
        raise UserError(f"{src}: no images found")
    teacher = MeshTeacher(max_faces=max_faces)
    records, skipped = [], []
    for path in tqdm(images, desc="autolabel", unit="img"):
        rel = path.relative_to(src)
        try:
            bgr = read_image(path)
            faces = teacher(bgr)
            if not faces:
                raise SampleError(path, "no face found")
        except SampleError as e:
            tqdm.write(f"skip {e}")
            skipped.append({"image": str(path), "reason": e.reason})
            continue
        faces.sort(key=lambda f: -f.face_size)
        label = out / "labels" / rel.with_suffix(".txt")
        atomic_write_text(label, "".join(f"{x:.3f} {y:.3f}\n" for x, y in faces[0].points))
        for k, f in enumerate(faces):
            records.append({"image": str(rel), "face": k, "points": np.round(f.points, 3).tolist(),
                            "flip_nme": round(f.flip_nme, 5), "confidence": round(float(np.exp(-f.flip_nme / 0.05)), 4),
                            "face_size": round(f.face_size, 1), "cut": f.cut, "width": bgr.shape[1],
                            "height": bgr.shape[0]})
    atomic_write_text(out / "autolabel.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    summary = {"source": str(src), "images": len(images), "labelled_images": len(images) - len(skipped),
               "faces": len(records), "skipped": skipped, "teacher": "mediapipe face_mesh 478 -> 106"}
    atomic_write_json(out / "summary.json", summary)
    print(f"autolabel: {summary['labelled_images']}/{len(images)} images labelled, {len(records)} faces, "
          f"{len(skipped)} skipped -> {out}")
    return summary


def register(sub) -> None:
    p = sub.add_parser("autolabel", help="label unlabelled photos with the MediaPipe teacher (106 points)",
                       description=__doc__.splitlines()[0])
    p.add_argument("src", help="folder of photos (read only)")
    p.add_argument("--out", required=True, help="new folder for labels/, autolabel.jsonl, summary.json")
    p.add_argument("--max-faces", type=int, default=5)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        py = _teacher_python()
        if not py:
            raise UserError("autolabel needs mediapipe 0.10.x in its own environment: run `make teacher-env`") from None
        cmd = [py, "-m", "pipnet106", "autolabel", args.src, "--out", args.out, "--max-faces", str(args.max_faces)]
        if args.overwrite:
            cmd.append("--overwrite")
        return subprocess.call(cmd)
    autolabel(args.src, args.out, max_faces=args.max_faces, overwrite=args.overwrite)
    return 0
