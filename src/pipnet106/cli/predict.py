"""`pipnet106 predict`: the command line over `predict.Landmarker`.

Arguments -> a Landmarker; inputs (image, folder, video) -> JSON/JSONL and optional
annotated copies in a new folder. All model logic lives in the API module.

Exit codes: 0 = every input processed; 1 = finished, but some inputs were skipped (unreadable,
no face); 2 = usage or fatal error (raised as `UserError`, printed by `cli.main`).
"""
from __future__ import annotations

from pathlib import Path

from ..runtime import require_device
from .args import device_name, float_in, int_at_least
from ..draw import draw_faces
from ..errors import UserError
from ..infer.landmarker import Landmarker

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
# Test hook: with PIPNET106_PAUSE_AFTER=n a folder run stops for good after writing n images, once
# <out>/predictions.jsonl.paused exists, so a test can kill it at a known point (no race with a timer).
PAUSE_ENV = "PIPNET106_PAUSE_AFTER"


PARTS_HELP = ("part models (eye, mouth) run after the face model, re-cropping each part at a finer scale: "
              "ONNX files of `part:` runs, or 'starter' for the shipped eye and mouth models (follow of "
              "known changes: eyes 0.19 -> 0.81, mouth 0.45 -> 0.82; NME eyes -18%%, pupils -55%%, mouth -23%%; "
              "about 2.5x the time per face; docs/model-card.md)")


def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="106 points for every face in an image, a folder or a video",
        description="Detect faces, predict landmarks and write JSON (one per image), JSONL (folders, videos) "
                    "and optional annotated images/video. Without --weights the shipped starter model is used.")
    p.add_argument("input", help="image file, folder (searched recursively) or video file")
    p.add_argument("--weights", default=None, help="checkpoint (.pt) or ONNX export (.onnx); default: starter model")
    p.add_argument("--parts", nargs="+", default=None, metavar="PART", help=PARTS_HELP)
    p.add_argument("--out", default="predictions", help="output folder (default ./predictions)")
    p.add_argument("--draw", action="store_true", help="also write annotated images / video")
    p.add_argument("--numbers", action="store_true", help="draw point indices on annotated images")
    p.add_argument("--detector", default="default", help="face detector backend (see docs/detection.md); ignored with --boxes")
    p.add_argument("--boxes", default=None,
                   help="JSON file of face boxes per image instead of a detector (for a video: the boxes of its "
                        "first frame, which start the tracks)")
    p.add_argument("--refine", type=int_at_least(0), default=1,
                   help="extra passes re-cropped from the previous landmarks (default 1; 2-3 for poor boxes)")
    p.add_argument("--no-refine", action="store_true", help="one pass only (same as --refine 0)")
    p.add_argument("--max-faces", type=int_at_least(0), default=0, help="keep at most N largest faces (0 = all)")
    p.add_argument("--min-face-size", type=float_in(0.0), default=0.0,
                   help="smallest face to look for and keep, in pixels (default 0: the detector's own, for "
                        "blazeface 24 px up to 1.44 megapixels and 2%% of sqrt(width*height) above, 70 px on a "
                        "12-megapixel photo); smaller finds more faces in crowds and costs more time (see docs/detection.md)")
    p.add_argument("--person-view", action="store_true",
                   help="name left/right from the subject's point of view: adds a 'regions' table "
                        "(name -> point indices) with 'view': 'person' to each JSON record")
    p.add_argument("--layout", default="lapa106",
                   help="point layout the weights must have (default lapa106; 'any' accepts the file's own)")
    p.add_argument("--device", type=device_name, default="cpu", help="for .pt weights: cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int_at_least(0), default=None,
                   help="onnxruntime intra-op threads (0 or unset: onnxruntime's default)")
    p.add_argument("--smooth", action="store_true", help="video: One-Euro smoothing of the points")
    p.add_argument("--resume", action="store_true",
                   help="folder: continue a killed run in --out, skipping images already in predictions.jsonl")
    p.set_defaults(func=run)


def first_frame_boxes(given, video: Path, boxes_path) -> list[list[float]] | None:
    """`--boxes` for a video: its entry (key: the video's name or stem) holds the boxes of its first
    frame, which start the tracks. None without `--boxes`."""
    if given is None:
        return None
    from ..errors import SampleError

    try:
        return [[*d.box, d.score] for d in given.lookup(video.name)]
    except SampleError:
        raise UserError(f"--boxes: {boxes_path} has no boxes for video '{video.name}' (key: its name or stem; "
                        f"the boxes of its first frame)") from None


def _make_landmarker(args) -> Landmarker:
    kw = dict(refine=0 if args.no_refine else args.refine, max_faces=args.max_faces, min_face_size=args.min_face_size,
              detector=None if args.boxes else args.detector)
    layout = None if args.layout == "any" else args.layout
    if getattr(args, "parts", None):
        from ..infer.backends import load_parts

        kw["parts"] = load_parts(args.parts, threads=args.threads)
    if args.weights is None:
        return Landmarker.default(layout=layout, **kw)  # the starter is checked like any other weights
    if Path(args.weights).suffix.lower() != ".onnx":  # a checkpoint: PyTorch runs it on --device
        require_device(args.device)
    return Landmarker.from_path(args.weights, device=args.device, threads=args.threads, layout=layout, **kw)


def run(args) -> int:
    """Exit code 0: every input processed (a face found in each image); 1: finished, but some
    inputs were skipped (unreadable, no face, no boxes given); 2 (raised): usage or fatal error."""
    from ..fileio import find_images, is_image_file

    src, out = Path(args.input), Path(args.out)
    if not src.exists():
        raise UserError(f"{src}: no such file or folder")
    given = None
    if args.boxes:
        from ..detect import BoxesDetector

        given = BoxesDetector.from_json(args.boxes)
    if src.is_file() and src.suffix.lower() not in VIDEO_EXTS and not is_image_file(src):
        raise UserError(f"{src}: not an image or video file (images: .jpg .jpeg .png .bmp .webp; "
                        f"videos: {' '.join(VIDEO_EXTS)})")
    lm = _make_landmarker(args)
    if src.is_file() and src.suffix.lower() in VIDEO_EXTS:
        from ..infer.video import predict_video

        s = predict_video(lm, src, out, draw=args.draw, smooth=args.smooth,
                          boxes=first_frame_boxes(given, src, args.boxes))
        print(f"video: {s['frames']} frames, {s['fps']:.1f} frames/s, {s['redetections']} re-detection(s) -> {s['out']}")
        return 0
    if src.is_file():
        return _predict_one(lm, src, out, args, given)
    images = find_images(src, exclude=out)
    if not images:
        raise UserError(f"{src}: no images found (extensions: .jpg .jpeg .png .bmp .webp)")
    return _predict_folder(lm, images, src, out, args, given)


def _predict_image(lm: Landmarker, path: Path, rel: Path, given,
                   person_view: bool = False) -> tuple[dict, object, list]:
    """One image -> (record, BGR image, faces). Raises `SampleError` for an unreadable image."""
    from ..infer.batch import image_record

    return image_record(lm, path, rel, given, person_view)


def _annotated_name(rel: Path, clash: bool) -> Path:
    """annotated/<rel>.png; `a.jpg` and `a.png` side by side keep their extension (a.jpg.png)."""
    return rel.with_name(rel.name + ".png") if clash else rel.with_suffix(".png")


def _predict_one(lm: Landmarker, path: Path, out: Path, args, given) -> int:
    """A single named image: out/<stem>.json. Unreadable or no face: one line and exit code 1."""
    import sys

    from ..errors import SampleError
    from ..fileio import atomic_write_image, atomic_write_json

    try:
        rec, image, faces = _predict_image(lm, path, Path(path.name), given, args.person_view)
    except SampleError as e:
        print(f"pipnet106: error: {e}", file=sys.stderr)
        return 1
    atomic_write_json(out / f"{path.stem}.json", rec)  # also without faces, as a folder run records it
    if args.draw:
        atomic_write_image(out / "annotated" / _annotated_name(Path(path.name), False),
                           draw_faces(image, faces, args.numbers))
    dest = out / f"{path.stem}.json"
    if not faces:  # one line, like an unreadable image, and exit code 1; the record says so too
        print(f"pipnet106: error: {path}: no face found ({dest} records none)", file=sys.stderr)
        return 1
    print(f"predict: {len(faces)} face{'s' if len(faces) > 1 else ''} -> {dest}")
    return 0


def _predict_folder(lm: Landmarker, images: list[Path], root: Path, out: Path, args, given) -> int:
    """Every image of a folder -> out/predictions.jsonl, one line per image written as it goes.

    Lines go to ``predictions.jsonl.part`` (flushed after each image) and the file is renamed into
    place when the run ends, so a killed run loses at most the image in flight and `--resume`
    continues it. Unreadable images get a record with an "error" and no faces, so a resumed run
    does not try them again and the finished file accounts for every image.
    """
    from tqdm import tqdm

    from ..infer.batch import error_record
    from ..errors import SampleError
    from ..fileio import JsonlStream, atomic_write_image

    stream = JsonlStream(out / "predictions.jsonl", resume=args.resume)
    pause_after = _pause_after()
    done = {r.get("image") for r in stream.done}
    rels = [p.relative_to(root) for p in images]
    todo = [(p, r) for p, r in zip(images, rels) if r.as_posix() not in done]
    if args.resume and stream.done:
        print(f"predict: resuming, {len(images) - len(todo)} images already done, {len(todo)} to go")
    pngs = [r.with_suffix(".png") for r in rels]
    clashes = {n for n in pngs if pngs.count(n) > 1}
    bar = tqdm(todo, desc="predict", unit="img")
    try:
        for n, (path, rel) in enumerate(bar, 1):
            try:
                rec, image, faces = _predict_image(lm, path, rel, given, args.person_view)
            except SampleError as e:
                bar.write(f"skip {e}")
                rec = error_record(path, rel, e)
            else:
                if not faces:
                    bar.write(f"skip {path}: no face found")
                if args.draw:
                    atomic_write_image(out / "annotated" / _annotated_name(rel, rel.with_suffix(".png") in clashes),
                                       draw_faces(image, faces, args.numbers))
            stream.write(rec)
            if n == pause_after:
                _pause(out / "predictions.jsonl.paused")
    except BaseException:
        stream.close()  # keep the .part for --resume
        raise
    bar.close()
    path = stream.finish()
    records = stream.done + _read_new(path, len(stream.done))
    problems = [f"{r['image']}: {r['error']}" if r.get("error") else f"{r['image']}: no face found"
                for r in records if r.get("error") or not r.get("faces")]
    n_faces = sum(len(r.get("faces", [])) for r in records)
    print(f"predict: {len(records) - len(problems)}/{len(records)} images with faces, {n_faces} faces -> {path}"
          + (f"; {len(problems)} skipped:" if problems else ""))
    for p in problems:
        print(f"  {p}")
    return 1 if problems else 0


def _pause_after() -> int | None:
    """The `PAUSE_ENV` test hook's image count, None when unset."""
    import os

    value = os.environ.get(PAUSE_ENV)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{PAUSE_ENV}={value!r}: expected a number of images") from None


def _pause(marker: Path) -> None:
    """Write `marker` and wait until killed: the run stops at a point the test chose."""
    import time

    from ..fileio import atomic_write_text

    atomic_write_text(marker, "paused\n")
    while True:
        time.sleep(60)


def _read_new(path: Path, skip: int) -> list[dict]:
    """Records of a finished JSONL after the first `skip` lines."""
    import json

    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines[skip:]]
