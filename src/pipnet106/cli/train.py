"""``pipnet106 train``: train or fine-tune a model on a prepared folder; `--resume` continues a run."""
from __future__ import annotations

import os
import sys

from ..config import load_config, origin
from ..train.loop import TrainingInterrupted, stored_config, train


def register(sub) -> None:
    p = sub.add_parser("train", help="train a PIPNet model on a prepared dataset (resumable)",
                       description="Train PIPNet. Config from --config YAML, overridden by --set key=value. "
                                   "Ctrl-C saves a resumable last.pt; --resume RUN continues, "
                                   "--resume RUN --set epochs=N extends.")
    p.add_argument("--config", default=None, help="YAML config (see configs/)")
    p.add_argument("--data", default=None, help="prepared folder (sets data=)")
    p.add_argument("--out", default=None, help="run folder for last.pt, best.pt, metrics.csv (sets out=)")
    p.add_argument("--init", default=None, help="fine-tune from a checkpoint: 'starter' or a path (sets init=)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue a run from RUN_DIR/last.pt (only epochs, workers, device, tensorboard may change)")
    p.add_argument("--save-every", type=int, default=200, help="also save last.pt every N steps inside an epoch")
    p.set_defaults(func=run)


def run(args) -> int:
    overrides = list(args.set)
    for key in ("data", "out", "init"):
        if getattr(args, key):
            overrides.append(f"{key}={getattr(args, key)}")
    if args.resume:
        cfg = load_config(args.config, overrides, base=stored_config(args.resume))
    else:
        cfg = load_config(args.config, overrides)
    origins = {k: origin(k, args.config, overrides) for k in ("crop_enlarge", "input_size")}
    try:
        res = train(cfg, resume=args.resume, save_every=args.save_every, origins=origins)
    except TrainingInterrupted as e:
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"pipnet106: {e.message()}", file=sys.stderr, flush=True)
        return 128 + e.signum
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"best val NME {res['best_nme'] * 100:.3f}%  -> {res['out']}/best.pt", file=sys.stdout)
    return 0
