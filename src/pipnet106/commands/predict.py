"""`pipnet106 predict`: the command line over `predict.Landmarker`.

Arguments -> a Landmarker; inputs (image, folder, video) -> JSON/JSONL and optional
annotated copies in a new folder. All model logic lives in the API module.
"""
from __future__ import annotations

from pathlib import Path

from ..draw import draw_faces
from ..errors import UserError
from ..fileio import read_image
from ..predict import Landmarker

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="106 points for every face in an image, a folder or a video",
        description="Detect faces, predict landmarks and write JSON (one per image), JSONL (folders, videos) "
                    "and optional annotated images/video. Without --weights the shipped starter model is used.")
    p.add_argument("input", help="image file, folder (searched recursively) or video file")
    p.add_argument("--weights", default=None, help="checkpoint (.pt) or ONNX export (.onnx); default: starter model")
    p.add_argument("--out", default="predictions", help="output folder (default ./predictions)")
    p.add_argument("--draw", action="store_true", help="also write annotated images / video")
    p.add_argument("--numbers", action="store_true", help="draw point indices on annotated images")
    p.add_argument("--detector", default="default", help="face detector backend (see README); ignored with --boxes")
    p.add_argument("--boxes", default=None, help="JSON file of face boxes per image instead of a detector")
    p.add_argument("--refine", type=int, default=1,
                   help="extra passes re-cropped from the previous landmarks (default 1; 2-3 for poor boxes)")
    p.add_argument("--no-refine", action="store_true", help="one pass only (same as --refine 0)")
    p.add_argument("--max-faces", type=int, default=0, help="keep at most N largest faces (0 = all)")
    p.add_argument("--min-face-size", type=float, default=0.0, help="ignore faces smaller than this many pixels")
    p.add_argument("--layout", default="lapa106",
                   help="point layout the weights must have (default lapa106; 'any' accepts the file's own)")
    p.add_argument("--device", default="cpu", help="for .pt weights: cpu, cuda, mps")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    p.add_argument("--smooth", action="store_true", help="video: One-Euro smoothing of the points")
    p.set_defaults(func=run)


def _make_landmarker(args) -> Landmarker:
    kw = dict(refine=0 if args.no_refine else args.refine, max_faces=args.max_faces, min_face_size=args.min_face_size,
              detector=None if args.boxes else args.detector)
    if args.weights is None:
        return Landmarker.default(**kw)
    return Landmarker.from_path(args.weights, device=args.device, threads=args.threads,
                                layout=None if args.layout == "any" else args.layout, **kw)


def run(args) -> int:
    import json

    from tqdm import tqdm

    from ..errors import SampleError
    from ..fileio import atomic_write_image, atomic_write_json, atomic_write_text, is_image_file

    src, out = Path(args.input), Path(args.out)
    if not src.exists():
        raise UserError(f"{src}: no such file or folder")
    given = None
    if args.boxes:
        from ..detect import BoxesDetector

        given = BoxesDetector.from_json(args.boxes)
    lm = _make_landmarker(args)
    if src.is_file() and src.suffix.lower() in VIDEO_EXTS:
        from ..video import predict_video

        predict_video(lm, src, out, draw=args.draw, smooth=args.smooth)
        return 0
    if src.is_file():
        images, root = [src], src.parent
    else:
        images = sorted(p for p in src.rglob("*") if p.is_file() and is_image_file(p))
        root = src
        if not images:
            raise UserError(f"{src}: no images found (extensions: .jpg .jpeg .png .bmp .webp)")
    problems: list[str] = []
    records, n_faces = [], 0
    bar = tqdm(images, desc="predict", unit="img", disable=len(images) == 1)
    for path in bar:
        rel = path.relative_to(root)
        try:
            image = read_image(path)
            boxes = None
            if given is not None:  # by relative path, then file name, then stem
                boxes = [[*d.box, d.score] for d in given.lookup(rel)]
            faces = lm.predict(image, boxes=boxes)
        except SampleError as e:
            problems.append(str(e))
            bar.write(f"skip {e}")
            continue
        if not faces:
            problems.append(f"{path}: no face found")
            bar.write(f"skip {path}: no face found")
        n_faces += len(faces)
        rec = {"image": str(rel), "width": image.shape[1], "height": image.shape[0],
               "faces": [f.to_dict() for f in faces]}
        records.append(rec)
        if len(images) == 1:
            atomic_write_json(out / f"{path.stem}.json", rec)
        if args.draw:
            atomic_write_image(out / "annotated" / rel.with_suffix(".png"), draw_faces(image, faces, args.numbers))
    if len(images) > 1:
        atomic_write_text(out / "predictions.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    print(f"predict: {len(records)}/{len(images)} images, {n_faces} faces -> {out}"
          + (f"; {len(problems)} problem(s):" if problems else ""))
    for p in problems:
        print(f"  {p}")
    return 0
