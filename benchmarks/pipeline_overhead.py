"""What the pipeline adds to the network: `pipnet106 bench` and a one-face video loop, before and after.

Two rows kinds, each at 1 and 2 onnxruntime threads, for the shipped starter and its int8 twin:

  bench   `pipnet106.infer.bench.bench` as `pipnet106 bench` runs it: network = the backend on ready
          crops; pipeline = crop from boxes + network + mapping back, per face, batch 1 and 8
          (the two models raced round-robin; see `bench.race`)
  video   a one-face video loop: `video.Tracker.update` on 360x360 frames of a face moving a few
          pixels per frame (from the demo photo), the search for new faces off (`scan_frames=0`,
          `detect_every=0`: tracking only), against the network alone on that frame's crop,
          timed alternately frame by frame; `scan` rows: the default tracker, which also spreads
          the detector's runs over the frames (its cost is the detector's, reported apart)

overhead = pipeline (or update) / network - 1, both measured in the same loop.

"before" and "after" are two source trees of the package (after: this checkout's src/; before:
--before-src, e.g. made with `git archive <commit> src | tar -x -C /tmp/before`), each run in its
own process, alternated for --rounds rounds so that load from other processes hits both alike; the
tables give the median over rounds.

    python benchmarks/pipeline_overhead.py --before-src /tmp/before/src [--rounds 3] [--repeats 30]

Prints tables and writes benchmarks/results/pipeline_overhead.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pipeline_overhead.json"


# ------------------------------------------------------------------ child: one source tree, one pass

def video_frames(n: int):
    """`n` 360x360 frames of the demo photo's left face, moving smoothly by a few pixels."""
    import cv2
    import numpy as np

    from pipnet106.cli.demo import DEMO_PHOTO
    from pipnet106.fileio import read_image

    base = cv2.resize(read_image(DEMO_PHOTO)[60:330, 0:270], (360, 360), interpolation=cv2.INTER_AREA)
    return [cv2.warpAffine(base, np.float32([[1, 0, 6 * np.sin(i / 9)], [0, 1, 4 * np.cos(i / 13)]]), (360, 360),
                           borderMode=cv2.BORDER_REPLICATE) for i in range(n)]


def video_rows(threads: list[int], frames: int) -> list[dict]:
    """Per model and thread count: median ms per frame of `Tracker.update` and of the network on
    that frame's crop (alternately), tracking only and with the default scan for new faces."""
    from pipnet106.infer.bench import default_models
    from pipnet106.crop import crop_from_points
    from pipnet106.infer.landmarker import Landmarker
    from pipnet106.infer.video import Tracker

    clip = video_frames(frames)
    rows = []
    for th in threads:
        for path in default_models():
            lm = Landmarker.from_path(path, threads=th)
            for kind, kw in (("video", {"scan_frames": 0, "detect_every": 0}), ("scan", {})):
                tr = Tracker(lm, **kw)
                tr.update(clip[0], t=0.0)
                upd, net = [], []
                for i, frame in enumerate(clip[1:], 1):
                    crops = lm.preprocess(frame, [crop_from_points(t.raw, lm.size, lm.enlarge) for t in tr.tracks])
                    t0 = time.perf_counter()
                    tr.update(frame, t=i / 30.0)
                    t1 = time.perf_counter()
                    lm.inference(crops)
                    net.append(time.perf_counter() - t1)
                    upd.append(t1 - t0)
                skip = min(20, len(upd) // 4)  # warm-up
                u, n = statistics.median(upd[skip:]) * 1000, statistics.median(net[skip:]) * 1000
                if kind == "scan":
                    u = statistics.fmean(upd[skip:]) * 1000  # the scan's runs fall on some frames only
                rows.append({"kind": kind, "model": path.name, "threads": th, "batch": 1,
                             "network_ms_per_face": round(n, 3), "pipeline_ms_per_face": round(u, 3),
                             "pipeline_overhead": round(u / n - 1, 3), "tracks": len(tr.tracks),
                             "detector_runs": tr.detector_runs})
    return rows


def child(args) -> int:
    from pipnet106.infer.bench import bench

    rows = [dict(r, kind="bench") for r in bench(None, tuple(args.batch), tuple(args.threads), args.repeats)
            if "network_ms_per_face" in r]
    rows += video_rows(args.threads, args.frames)
    print(json.dumps(rows))
    return 0


# ------------------------------------------------------------------ parent: alternate the trees

def run_tree(src: Path, args) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, __file__, "--child", "--repeats", str(args.repeats), "--frames", str(args.frames),
           "--threads", *map(str, args.threads), "--batch", *map(str, args.batch)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=str(ROOT))
    return json.loads(out.stdout.strip().splitlines()[-1])


def key(r: dict) -> tuple:
    return r["kind"], r["model"], r["threads"], r["batch"]


def summarize(passes: dict[str, list[list[dict]]]) -> list[dict]:
    """Median over rounds of each row's network, pipeline and overhead, per tree."""
    out = []
    for tree, rounds in passes.items():
        keys = [key(r) for r in rounds[0]]
        for k in keys:
            rs = [r for rnd in rounds for r in rnd if key(r) == k]
            out.append({"tree": tree, "kind": k[0], "model": k[1], "threads": k[2], "batch": k[3],
                        **{f: round(statistics.median(r[f] for r in rs), 3)
                           for f in ("network_ms_per_face", "pipeline_ms_per_face", "pipeline_overhead")},
                        "overhead_per_round": [r["pipeline_overhead"] for r in rs]})
    return out


def print_table(rows: list[dict]) -> None:
    trees = list(dict.fromkeys(r["tree"] for r in rows))
    print("| kind | model | threads | batch | "
          + " | ".join(f"{t}: network / pipeline ms, overhead" for t in trees) + " |")
    print("|---|---|---|---|" + "---|" * len(trees))
    seen = []
    for r in rows:
        k = (r["kind"], r["model"], r["threads"], r["batch"])
        if k in seen:
            continue
        seen.append(k)
        cells = []
        for t in trees:
            m = next(x for x in rows if x["tree"] == t and (x["kind"], x["model"], x["threads"], x["batch"]) == k)
            cells.append(f"{m['network_ms_per_face']:.2f} / {m['pipeline_ms_per_face']:.2f}, "
                         f"{m['pipeline_overhead'] * 100:+.0f}%")
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-src", type=Path, default=None, help="src/ of the version to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=30, help="timed calls per bench row")
    ap.add_argument("--frames", type=int, default=150, help="frames per video row")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    trees = {"after": ROOT / "src"}
    if args.before_src is not None:
        if not (args.before_src / "pipnet106").is_dir():
            print(f"error: {args.before_src} has no pipnet106 package", file=sys.stderr)
            return 2
        trees = {"before": args.before_src, **trees}
    passes: dict[str, list[list[dict]]] = {t: [] for t in trees}
    for i in range(args.rounds):
        for t, src in trees.items():
            passes[t].append(run_tree(src, args))
            print(f"round {i + 1}/{args.rounds}: {t} done", flush=True)
    rows = summarize(passes)
    print_table(rows)
    from pipnet106.fileio import atomic_write_json

    env = {"rounds": args.rounds, "repeats": args.repeats, "frames": args.frames, "cpu_count": os.cpu_count(),
           "load_avg_1min": round(os.getloadavg()[0], 2), "before_src": str(args.before_src or "")}
    atomic_write_json(args.out, {"benchmark": "pipeline_overhead", "env": env, "rows": rows, "passes": passes})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    if "--child" not in sys.argv:  # a child imports the tree its PYTHONPATH names
        sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
