"""``pipnet106 eval``: NME, AUC, failure rate, per-region errors, CED plot and worst cases of a model."""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..train.evaluate import evaluate, format_report
from ..runtime import require_device
from .args import int_at_least


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint on a prepared dataset (NME, AUC, FR, per region)",
                       description="Evaluate a checkpoint: NME, failure rate, AUC, per-region NME, CED plot, worst images.")
    p.add_argument("--weights", required=True,
                   help="checkpoint (best.pt / last.pt), ONNX export (float or int8), or 'starter' for the shipped model")
    p.add_argument("--data", required=True, help="prepared folder (output of `pipnet106 prepare`)")
    p.add_argument("--split", default="test", help="test, train, or a list file name in the folder")
    p.add_argument("--norm", default=None, help="outer_eye (default, 66/79), pupil, or bbox (sqrt(w*h))")
    p.add_argument("--threshold", type=float, default=0.10, help="failure threshold for FR and AUC")
    p.add_argument("--flip", action="store_true", help="horizontal-flip test-time augmentation")
    p.add_argument("--out", default=None,
                   help="folder for eval.json, ced.png, worst/ (default: eval_<weights name>_<split> next to the "
                        "weights; in the current folder for the shipped starter)")
    p.add_argument("--worst", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--follow", action="store_true",
                   help="also measure whether the points follow known local changes of the faces (eyes larger, "
                        "mouth wider, ...): follow per part, NME on the changed photos, slopes across faces "
                        "(lapa106; writes follow.json)")
    p.add_argument("--follow-faces", type=int_at_least(1), default=200, metavar="N",
                   help="faces of the split used by --follow (a seeded choice; default 200)")
    p.set_defaults(func=run)


def default_out(weights: str, split: str) -> Path:
    """Where `eval` writes without --out: eval_<weights name>_<split> next to the weights, so two
    models of one run folder (best.pt, model_int8.onnx) keep their own reports; in the current folder
    for the shipped starter (or any file inside the installed package, which is not the user's)."""
    stem = "starter" if weights == "starter" else Path(weights).stem
    name = f"eval_{stem}_{split}"
    if weights == "starter":
        return Path(name)
    path = Path(weights).resolve()
    package = Path(__file__).resolve().parents[1]
    return Path(name) if package in path.parents else Path(weights).parent / name


def run(args) -> int:
    require_device(args.device)
    out = args.out or str(default_out(args.weights, args.split))
    rep = evaluate(args.weights, args.data, split=args.split, norm=args.norm, threshold=args.threshold, flip=args.flip,
                   out=out, worst=args.worst, batch_size=args.batch_size, device=args.device)
    print(format_report(rep))
    print(f"report: {out}/eval.json")
    if args.follow:
        run_follow(args, out)
    return 0


def run_follow(args, out: str) -> None:
    """`eval --follow`: the points' follow of known changes on the split's faces -> follow.json."""
    from ..fileio import atomic_write_json
    from ..infer.landmarker import Landmarker
    from ..models.checkpoint import resolve_init
    from ..train.follow import format_follow, measure_follow, prepared_faces

    lm = Landmarker.from_path(resolve_init(args.weights), device=args.device, detector=None)
    if lm.layout.name != "lapa106":
        raise UserError(f"--follow measures lapa106 models; {args.weights} predicts {lm.layout.name}")
    rep = measure_follow(lm, prepared_faces(args.data, {"test": "test.txt", "train": "train.txt"}.get(args.split, args.split),
                                            limit=args.follow_faces))
    print(format_follow(rep))
    atomic_write_json(Path(out) / "follow.json", {"weights": str(args.weights), "data": str(args.data), **rep})
    print(f"follow report: {out}/follow.json")
