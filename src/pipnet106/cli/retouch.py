"""`pipnet106 retouch`: the command line over `retouch.Retoucher` / `retouch.VideoRetoucher`.

Arguments -> adjustments and a Landmarker; an image, a folder (recursive, resumable:
finished outputs are kept) or a video -> retouched copies in a new place, optional
before/after pictures (--compare) and a record of what was done to which face (--json).
"""
from __future__ import annotations

from pathlib import Path

from .args import device_name, float_in, int_at_least
from .predict import PARTS_HELP
from ..errors import SampleError, UserError
from ..retouch.params import (AMOUNT_PARAMS, COLOR_OF, DEFAULT_EYELINER_WIDTH, DEFAULT_LIPSTICK_AMOUNT, PARAMS,
                              PRESET_USES, PRESETS, SHAPE_PARAMS, parse_color)

# the amounts with a flag of their own beyond lipstick, smoothing and blush (issue 20's colour effects)
BEAUTY_AMOUNTS = tuple(k for k in AMOUNT_PARAMS if k not in ("smooth_skin", "lipstick_amount", "blush"))

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def register(sub) -> None:
    p = sub.add_parser(
        "retouch", help="slim face, bigger eyes, face/nose/lips/chin/brow shaping, lipstick, blush, smooth skin, "
                   "skin tone, teeth, eyes, eye makeup, lenses",
        description="Retouch every face (or the chosen ones) of an image, a folder or a video from its 106 points. "
                    "Shape values are in [-1, 1] (0 = unchanged; sign: see --list); makeup amounts in [0, 1]. "
                    "Outputs go to a new file/folder; the input is never modified. Edited photos should not be "
                    "passed off as unedited where that misleads.")
    p.add_argument("input", nargs="?", help="image file, folder (searched recursively) or video file")
    p.add_argument("--out", default="retouched",
                   help="output folder (default ./retouched); for one image also a file name with an image "
                        "extension (.jpg, .png, .tiff, ...)")
    p.add_argument("--list", action="store_true", help="print the adjustments, their signs and the presets, then exit")
    p.add_argument("--preset", default=None, help=f"named bundle: {', '.join(PRESETS)}")
    p.add_argument("--strength", default=None, help="scale the preset and the values (default 1; 0..2)")
    g = p.add_argument_group("shape (each in [-1, 1])")
    for name in SHAPE_PARAMS:
        g.add_argument(_flag(name), dest=name, default=None, metavar="V", help=PARAMS[name][1])
    m = p.add_argument_group("makeup")
    m.add_argument("--lipstick", default=None, metavar="COLOR[:AMOUNT]",
                   help=f"lip colour (#rrggbb or a name: red, rose, coral, ...) and amount in [0, 1] "
                        f"(default {DEFAULT_LIPSTICK_AMOUNT})")
    m.add_argument("--smooth-skin", dest="smooth_skin", default=None, metavar="AMOUNT",
                   help="edge-preserving skin smoothing, [0, 1]")
    m.add_argument("--blush", default=None, metavar="AMOUNT[:COLOR]", help="cheek colour amount [0, 1] and colour")
    for name in BEAUTY_AMOUNTS:
        meta = "AMOUNT[:COLOR]" if name in COLOR_OF else "AMOUNT"
        m.add_argument(_flag(name), dest=name, default=None, metavar=meta, help=f"[0, 1]: {PARAMS[name][1]}")
    m.add_argument("--eyeliner-width", dest="eyeliner_width", default=None, metavar="W",
                   help=f"eyeliner width, (0, 1] of the widest line (default {DEFAULT_EYELINER_WIDTH})")
    p.add_argument("--faces", default="all",
                   help="which faces: all, largest, or indices like 0,2 (images: largest first; video: track ids)")
    p.add_argument("--compare", action="store_true", help="also write before/after side by side")
    p.add_argument("--json", action="store_true", help="also write what was applied to which face")
    p.add_argument("--overwrite", action="store_true", help="redo images whose output already exists")
    # the predict command's model options
    p.add_argument("--weights", default=None, help="checkpoint (.pt) or ONNX export (.onnx); default: starter model")
    p.add_argument("--parts", nargs="+", default=None, metavar="PART", help=PARTS_HELP)
    p.add_argument("--detector", default="default", help="face detector backend (see docs/detection.md); ignored with --boxes")
    p.add_argument("--boxes", default=None, help="JSON file of face boxes per image instead of a detector")
    # checked as predict checks them: a bad value is one line naming its flag
    p.add_argument("--refine", type=int_at_least(0), default=1, help="extra landmark passes (default 1)")
    p.add_argument("--no-refine", action="store_true", help="one pass only (same as --refine 0)")
    p.add_argument("--max-faces", type=int_at_least(0), default=0, help="keep at most N largest faces (0 = all)")
    p.add_argument("--min-face-size", type=float_in(0.0), default=0.0,
                   help="ignore faces smaller than this many pixels")
    p.add_argument("--layout", default="lapa106", help="point layout the weights must have (default lapa106)")
    p.add_argument("--device", type=device_name, default="cpu", help="for .pt weights: cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int_at_least(0), default=None, help="onnxruntime intra-op threads")
    v = p.add_argument_group("video")
    v.add_argument("--no-smooth", action="store_true", help="video: no One-Euro smoothing of the points")
    v.add_argument("--ramp", default="0.3", metavar="SECONDS", help="video: effect ramps in/out over this time")
    p.set_defaults(func=run)


def _number(flag: str, text, lo: float, hi: float) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise UserError(f"{flag}: expected a number in [{lo:g}, {hi:g}], got {text!r}") from None
    if not (lo <= v <= hi):
        raise UserError(f"{flag}: must be in [{lo:g}, {hi:g}], got {text}")
    return v


def _color(flag: str, text: str):
    try:
        return parse_color(text)
    except UserError as e:
        raise UserError(f"{flag}: {e}") from None


def adjustments_from_args(args):
    """Preset x strength, then each given flag on top; every bad value names its flag."""
    from ..retouch import Retoucher

    if args.preset is not None and args.preset not in PRESETS:
        raise UserError(f"--preset: unknown preset {args.preset!r}; known: {', '.join(PRESETS)}")
    strength = 1.0 if args.strength is None else _number("--strength", args.strength, 0.0, 2.0)
    values = {}
    for name in SHAPE_PARAMS:
        if getattr(args, name) is not None:
            values[name] = _number(_flag(name), getattr(args, name), -1.0, 1.0)
    if args.smooth_skin is not None:
        values["smooth_skin"] = _number("--smooth-skin", args.smooth_skin, 0.0, 1.0)
    if args.lipstick is not None:
        color, _, amount = args.lipstick.partition(":")
        values["lipstick"] = _color("--lipstick", color)
        values["lipstick_amount"] = _number("--lipstick", amount, 0.0, 1.0) if amount else DEFAULT_LIPSTICK_AMOUNT
    if args.blush is not None:
        amount, _, color = args.blush.partition(":")
        values["blush"] = _number("--blush", amount, 0.0, 1.0)
        if color:
            values["blush_color"] = _color("--blush", color)
    for name in BEAUTY_AMOUNTS:
        text = getattr(args, name, None)
        if text is None:
            continue
        amount, _, color = str(text).partition(":")
        values[name] = _number(_flag(name), amount, 0.0, 1.0)
        if color and name in COLOR_OF:
            values[COLOR_OF[name]] = _color(_flag(name), color)
        elif color:
            raise UserError(f"{_flag(name)}: takes an amount only, got {text!r}")
    if getattr(args, "eyeliner_width", None) is not None:
        values["eyeliner_width"] = _number("--eyeliner-width", args.eyeliner_width, 1e-3, 1.0)
    faces = args.faces.strip()
    if faces not in ("all", "largest"):
        try:
            idx = [int(t) for t in faces.split(",") if t.strip()]
        except ValueError:
            idx = []
        if not idx or min(idx) < 0:
            raise UserError(f"--faces: expected all, largest or indices like 0,2; got {args.faces!r}")
    return Retoucher.resolve(args.preset, strength, **values)


def print_table() -> None:
    print("adjustment             range    positive value does")
    flags = {"lipstick_amount": "--lipstick C[:A]", **{k: f"{_flag(k)} A[:C]" for k in COLOR_OF}}
    for name, (kind, doc) in PARAMS.items():
        print(f"{flags.get(name, _flag(name)):<22} {'[-1, 1]' if kind == 'shape' else '[0, 1] '}  {doc}")
    from ..retouch.warp import template_shift

    print("\npresets (largest move at strength 1 on a face 180 px wide; --strength scales it):")
    for name, adj in PRESETS.items():
        print(f"  {name:<9} {template_shift(adj):4.1f} px  {PRESET_USES[name]}\n{'':<19}"
              + ", ".join(f"{k}={v}" for k, v in adj.to_dict().items()))


def names_image_file(out: Path) -> bool:
    """Whether `--out` names an image file: an extension OpenCV can write (.jpg, .png, .tiff, ...)
    and not an existing folder."""
    import cv2

    return bool(out.suffix) and not out.is_dir() and bool(cv2.haveImageWriter(str(out)))


def _side_by_side(before, after):
    import numpy as np

    return np.concatenate([before, after], axis=1)


def run(args) -> int:
    from .predict import _make_landmarker, first_frame_boxes

    if args.list:
        print_table()
        return 0
    adj, ramp, src, out, given = _inputs(args)
    if adj.is_identity:
        print("retouch: every value is 0 (outputs are copies); see --list, --preset")
    lm = _make_landmarker(args)
    select = args.faces.strip()
    if src.is_file() and src.suffix.lower() in VIDEO_EXTS:
        return _run_video(args, lm, adj, src, out, select, ramp, first_frame_boxes(given, src, args.boxes))
    return _run_images(args, lm, adj, src, out, select, given)


def _inputs(args):
    """(adjustments, ramp, input, output, given boxes) from the arguments, checked."""
    if not args.input:
        raise UserError("retouch: give an INPUT image, folder or video (or --list)")
    adj = adjustments_from_args(args)
    ramp = _number("--ramp", args.ramp, 0.0, 10.0)
    src, out = Path(args.input), Path(args.out)
    if not src.exists():
        raise UserError(f"{src}: no such file or folder")
    if out.resolve() == src.resolve():
        raise UserError(f"--out: {out} is the input; choose a new file or folder (inputs are never overwritten)")
    given = None
    if args.boxes:
        from ..detect import BoxesDetector

        given = BoxesDetector.from_json(args.boxes)
    return adj, ramp, src, out, given


def _images(src: Path, out: Path) -> tuple[list[Path], Path, bool]:
    """(images, the folder their names are relative to, whether `out` names the one output file)."""
    from ..fileio import find_images

    if not src.is_file() and names_image_file(out):
        raise UserError(f"--out: {out} names an image file, but {src} is a folder; give an output folder")
    if src.is_file():
        return [src], src.parent, names_image_file(out)
    images = find_images(src, exclude=out)   # never re-read our outputs
    if not images:
        raise UserError(f"{src}: no images found (extensions: .jpg .jpeg .png .bmp .webp)")
    return images, src, False


def _retouch_image(lm, path: Path, rel: Path, target: Path, adj, select: str, given, compare: bool) -> dict:
    """Retouch one photo into `target` -> its JSON record; `SampleError` when it is skipped."""
    from ..fileio import atomic_write_image, read_image
    from ..retouch import retouch_report

    image = read_image(path)
    boxes = [[*d.box, d.score] for d in given.lookup(rel)] if given is not None else None
    faces = [] if adj.is_identity else lm.predict(image, boxes=boxes)
    try:
        result, report = retouch_report(image, faces, adj, "all" if select == "all" else select)
    except UserError as e:
        if "out of range" not in str(e):
            raise
        raise SampleError(path, f"--faces {select}", str(e)) from None
    if not faces and not adj.is_identity:
        raise SampleError(path, "no face found")
    atomic_write_image(target, result)
    if compare:
        atomic_write_image(target.with_name(target.stem + "_compare.jpg"), _side_by_side(image, result))
    return {"image": str(rel), "output": str(target), "faces_found": len(faces),
            "adjustments": adj.to_dict(), "faces": [r.to_dict() for r in report]}


def _run_images(args, lm, adj, src: Path, out: Path, select: str, given) -> int:
    """A photo or a folder of photos; a folder's records go to out/retouch.jsonl as they come."""
    from tqdm import tqdm

    from ..fileio import JsonlStream, atomic_write_json

    images, root, single_file = _images(src, out)
    stream = JsonlStream(out / "retouch.jsonl", resume=not args.overwrite) if args.json and len(images) > 1 else None
    problems, records, kept = [], [], 0
    bar = tqdm(images, desc="retouch", unit="img", disable=len(images) == 1)
    try:
        for path in bar:
            rel = path.relative_to(root)
            target = out if single_file else out / rel
            if target.exists() and not args.overwrite and len(images) > 1:
                kept += 1
                continue
            try:
                rec = _retouch_image(lm, path, rel, target, adj, select, given, args.compare)
            except SampleError as e:
                problems.append(str(e))
                bar.write(f"skip {e}")
                continue
            records.append(rec)
            if stream is not None:
                stream.write(rec)
            elif args.json:
                atomic_write_json(target.with_suffix(".json"), rec)
    except BaseException:
        if stream is not None:
            stream.close()   # keep the .part: a re-run continues it
        raise
    if stream is not None:
        stream.finish()
    print(_summary(adj, records, len(images), kept, out, problems))
    for p in problems:
        print(f"  {p}")
    return 1 if problems else 0


def _summary(adj, records: list[dict], total: int, kept: int, out: Path, problems: list[str]) -> str:
    if adj.is_identity:
        what = "no adjustment given: copied unchanged, faces not searched"
    else:
        edited = sum(sum(f["edited"] for f in r["faces"]) for r in records)
        found = sum(r["faces_found"] for r in records)
        what = f"{edited} of {found} faces edited" + (
            " (the others not selected, or faded out: low point confidence, turned away)" if edited < found else "")
    return (f"retouch: {len(records)}/{total} images, {what} -> {out}"
            + (f"; {kept} already done (kept; --overwrite to redo)" if kept else "")
            + (f"; {len(problems)} problem(s):" if problems else ""))


def _run_video(args, lm, adj, src: Path, out: Path, select: str, ramp: float, first_boxes=None) -> int:
    import numpy as np

    from ..infer.video import process_video
    from ..retouch.video import VideoRetoucher

    target = out if out.suffix.lower() in VIDEO_EXTS else out / f"{src.stem}_retouched.mp4"
    vr = VideoRetoucher(lm, adj, smooth=not args.no_smooth, ramp_s=ramp, select=select)

    def per_frame(frame: np.ndarray, index: int, t: float) -> tuple[dict, np.ndarray]:
        r = vr.process(frame, t, boxes=first_boxes if index == 0 else None)
        record = {"faces": [dict(rep.to_dict(), track_id=int(getattr(f, "track_id", -1)))
                            for rep, f in zip(r.report, r.faces)]}
        return record, (np.concatenate([frame, r.image], axis=1) if args.compare else r.image)

    frames, secs = process_video(src, per_frame, target, target.with_suffix(".jsonl") if args.json else None,
                                 desc="retouch video")
    print(f"retouch video: {frames} frames, {frames / max(secs, 1e-9):.1f} frames/s, "
          f"detector ran {vr.tracker.detector_calls}x -> {target}")
    return 0
