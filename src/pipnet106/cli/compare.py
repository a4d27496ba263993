"""``pipnet106 compare``: train, export, evaluate and time several heads on the same backbone and data."""
from __future__ import annotations

from ..config import load_config
from .args import int_at_least


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare heads (pip, regression, simcc, heatmap) on your data: one table",
                       description="Train each head with the same config, backbone initialisation, data and budget "
                                   "as a sub-run OUT/<head>/, export it to ONNX, evaluate it on the test list and "
                                   "time it; writes OUT/compare.md, OUT/compare.json and OUT/ced.png. Rerunning "
                                   "skips finished heads and resumes a partial one.")
    p.add_argument("--config", default=None, help="YAML config (see configs/); its `head` is replaced per head")
    p.add_argument("--data", required=True, help="prepared folder (sets data=)")
    p.add_argument("--out", required=True, help="comparison folder (one sub-run per head)")
    p.add_argument("--heads", default="pip,regression,simcc,heatmap", help="comma-separated heads (default: all)")
    p.add_argument("--init", default=None, help="backbone initialisation for every head: 'starter' or a checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--threads", type=int_at_least(1), default=1, help="onnxruntime threads when timing (default 1)")
    p.add_argument("--repeats", type=int_at_least(1), default=20, help="timed calls per head and batch size (default 20)")
    p.add_argument("--follow-faces", type=int_at_least(0), default=40,
                   help="test faces for the follow figures (train.follow) per head; 0 = skip (default 40)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..deploy.compare import compare, parse_heads
    heads = parse_heads(args.heads)
    overrides = list(args.set) + [f"data={args.data}"] + ([f"init={args.init}"] if args.init else [])
    cfg = load_config(args.config, overrides)
    compare(cfg, heads, args.out, threads=args.threads, repeats=args.repeats, follow_faces=args.follow_faces)
    return 0
