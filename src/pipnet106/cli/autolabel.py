"""``pipnet106 autolabel``: label unlabelled photos with the MediaPipe teacher (in its own environment)."""
from __future__ import annotations

import subprocess

from ..errors import UserError
from ..teacher.autolabel import DEFAULT_MAX_DISAGREE, teacher_python, autolabel


def register(sub) -> None:
    p = sub.add_parser("autolabel", help="label unlabelled photos with the MediaPipe teacher (106 points)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="folder of photos (read only)")
    p.add_argument("--out", required=True, help="new folder for labels/, autolabel.jsonl, summary.json")
    p.add_argument("--max-faces", type=int, default=5)
    p.add_argument("--max-disagree", type=float, default=DEFAULT_MAX_DISAGREE,
                   help="keep a face only when the photo and its mirror agree within this outer-eye NME "
                        f"(default {DEFAULT_MAX_DISAGREE})")
    p.add_argument("--max-images", type=int, default=None, help="label a seeded random subset of this many images")
    p.add_argument("--seed", type=int, default=0)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue a killed run in --out, skipping labelled images")
    g.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.max_faces < 1:
        raise UserError(f"--max-faces must be >= 1, got {args.max_faces}")
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        py = teacher_python()
        if not py:
            raise UserError("autolabel needs mediapipe 0.10.x in its own environment: run `make teacher-env`") from None
        cmd = [py, "-m", "pipnet106", "autolabel", args.src, "--out", args.out, "--max-faces", str(args.max_faces),
               "--max-disagree", str(args.max_disagree), "--seed", str(args.seed)]
        if args.max_images:
            cmd += ["--max-images", str(args.max_images)]
        cmd += ["--resume"] * args.resume + ["--overwrite"] * args.overwrite
        return subprocess.call(cmd)
    summary = autolabel(args.src, args.out, max_faces=args.max_faces, overwrite=args.overwrite, resume=args.resume,
                        max_disagree=args.max_disagree, max_images=args.max_images, seed=args.seed)
    return 1 if summary["skipped_images"] else 0
