"""Face-detector recall, precision and speed on real photos.

Runs each backend on every photo in --photos (default: ../shared/data/photos
next to the repo), prints a table and writes benchmarks/results/detect.json.
Entries for backends not run this time are kept, so backends that need another
environment (Haar needs OpenCV 4.x) can be added by a second run.

Ground truth (embedded below, for the 18 photos with up to ~30 faces): candidates
from MediaPipe's full-range detector run on 2x-upscaled overlapping tiles plus the
whole image (short and full range), each photo then checked by eye: false alarms
(hands, badges, double boxes) removed, 2 missed faces added by hand, and a few
ambiguous regions (face hidden behind hands, half a face at the border, a
profile at the edge) marked "ignore" (a detection there is neither hit nor
false alarm). The 6 crowd photos (50-300+ tiny faces) could not be checked by
eye; for them only the number of detections is reported, next to the tiled
MediaPipe count, which itself misses many faces there.

A detection matches an unmatched true face when IoU >= 0.3 (boxes of different
detectors are cut differently; faces do not overlap that much).

    .venv/bin/python benchmarks/detect_speed.py [--photos DIR] [--backends ...] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pipnet106.detect import get_detector  # noqa: E402
from pipnet106.detect.base import box_iou  # noqa: E402
from pipnet106.errors import UserError  # noqa: E402
from pipnet106.fileio import atomic_write_json, is_image_file, read_image  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "detect.json"
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"

# name -> (registry name, options)
BACKENDS = {
    "blazeface-full": ("blazeface", {"model": "full"}),  # the default: tile 512
    "blazeface-full-notile": ("blazeface", {"model": "full", "tile": 0}),
    "blazeface-full-tile384": ("blazeface", {"model": "full", "tile": 384}),
    "blazeface-short": ("blazeface", {"model": "short"}),
    "blazeface-full-opencv": ("blazeface", {"model": "full", "engine": "opencv"}),
    "haar-default": ("haar", {"cascade": "default"}),
    "haar-alt2": ("haar", {"cascade": "alt2"}),
    "mediapipe-full": ("mediapipe", {"model": "full"}),
}
DEFAULT_BACKENDS = ["blazeface-full", "blazeface-full-notile", "blazeface-full-tile384", "blazeface-short",
                    "blazeface-full-opencv", "haar-default", "haar-alt2"]

GT = json.loads("""{
"2.jpg":{"faces":[[541,100,662,221],[285,118,404,237],[713,151,846,283],[127,132,242,246]]},
"3.jpg":{"faces":[[744,276,839,371],[400,264,491,355],[295,196,383,284],[538,247,628,337],[179,247,257,325]]},
"5.jpg":{"faces":[[492,174,686,367]],"ignore":[[785,212,808,235]]},
"6.jpg":{"faces":[[363,177,429,243],[866,218,936,288],[846,107,916,177],[412,130,468,186],[686,106,749,168],
 [224,86,288,150],[82,221,153,292],[139,165,214,240],[670,196,751,276],[793,185,857,249],[464,207,546,290],
 [568,199,626,258],[576,110,630,163],[216,182,301,267]]},
"9.jpg":{"faces":[[837,330,965,458],[569,342,704,476],[163,350,326,513],[326,124,416,214],[707,194,812,299],
 [163,149,293,279],[359,293,499,432],[503,146,629,272]]},
"10.jpg":{"faces":[[888,202,945,259],[716,84,767,134],[610,84,661,135],[236,63,286,114],[290,370,360,440],
 [340,189,396,245],[737,205,793,261],[217,234,270,288],[482,78,538,134],[848,47,897,96],[464,371,529,437],
 [362,76,411,126],[82,369,147,433],[97,228,151,282],[469,201,529,260],[701,376,769,444],[624,243,680,299],
 [75,30,125,80],[914,384,981,450]]},
"11.jpg":{"faces":[[644,80,679,115],[381,220,430,269],[245,213,293,262],[518,223,562,267],[236,72,278,114],
 [387,340,438,391],[334,70,373,110],[624,310,680,366],[753,308,808,363],[237,302,294,359],[652,194,699,240],
 [427,59,464,96],[803,224,852,273],[330,136,370,176],[890,305,947,362],[278,156,323,202],[120,219,160,260],
 [484,338,534,388],[756,66,802,111],[534,144,579,189],[776,153,814,192],[542,77,579,113],[101,343,151,394],
 [400,151,448,199],[202,154,246,198],[666,152,704,189]]},
"12.jpg":{"faces":[[280,164,367,250],[786,113,872,198],[646,134,724,212],[120,135,211,226],[463,119,561,217]]},
"13.jpg":{"faces":[[300,102,368,171],[89,35,155,101]]},
"15.jpg":{"faces":[[328,214,373,260],[659,264,705,309],[678,312,732,365],[192,244,237,289],[408,303,459,355],
 [272,288,324,341],[550,239,592,282],[773,243,814,285],[565,311,611,357],[687,161,730,205],[138,295,189,346],
 [182,160,227,206],[416,123,462,169],[563,131,610,177],[289,154,333,199],[438,203,479,244]],
 "ignore":[[745,205,790,240]]},
"16.jpg":{"faces":[[665,128,723,186],[144,68,211,135],[197,280,277,361],[591,301,666,376],[319,59,395,135],
 [417,266,486,336],[806,288,884,366],[482,61,547,125],[833,124,890,180]]},
"18.jpg":{"faces":[[199,62,282,146],[401,70,484,153],[789,91,870,171],[287,148,365,226],[523,120,612,209],
 [679,150,750,221]],"ignore":[[995,160,1024,270]]},
"19.jpg":{"faces":[[727,156,818,247],[315,213,398,296],[479,166,562,250],[606,234,679,306],[175,166,269,259]]},
"20.jpg":{"faces":[[606,96,667,157],[224,248,285,308],[453,61,508,116],[728,251,798,320],[862,69,926,133],
 [737,92,793,148],[279,89,334,145],[556,262,622,328],[131,82,192,142],[381,254,450,323]]},
"21.jpg":{"faces":[[570,76,632,139],[184,337,251,404],[660,327,726,393],[321,141,383,204],[441,318,520,396]]},
"22.jpg":{"faces":[[255,195,549,489],[640,474,936,770]]},
"23.jpg":{"faces":[[161,135,314,287],[676,98,811,234],[497,125,596,225]]},
"24.jpg":{"faces":[[769,117,938,286],[525,150,657,281],[202,320,268,386],[296,258,389,351],[370,240,496,366],
 [65,176,113,225],[0,624,73,698]],"ignore":[[31,297,87,379],[131,250,294,412]]}
}""")
# crowd photos: faces found by the tiled MediaPipe run (an undercount, not checked by eye)
CROWD_REFERENCE = {"1.jpg": 52, "8.jpg": 58, "17.jpg": 112, "25.jpg": 85, "26.jpg": 77, "27.jpg": 99}
MATCH_IOU = 0.3


def match(dets, truth: dict) -> tuple[int, int, int]:
    """(hits, misses, false alarms) for one photo; detections in 'ignore' regions do not count."""
    faces = np.array(truth["faces"], dtype=np.float64).reshape(-1, 4)
    ignore = np.array(truth.get("ignore", []), dtype=np.float64).reshape(-1, 4)
    used = np.zeros(len(faces), dtype=bool)
    hits = fa = 0
    for d in sorted(dets, key=lambda d: -d.score):
        iou = box_iou(d.box, faces) if len(faces) else np.zeros(0)
        iou[used] = -1
        if len(iou) and iou.max() >= MATCH_IOU:
            used[int(iou.argmax())] = True
            hits += 1
            continue
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        in_ignore = any(g[0] <= cx <= g[2] and g[1] <= cy <= g[3] for g in ignore) or (
            len(ignore) and box_iou(d.box, ignore).max() >= MATCH_IOU)
        if not in_ignore:
            fa += 1
    return hits, int(len(faces) - used.sum()), fa


def bench(label: str, det, photos: list[Path], repeats: int) -> dict:
    hits = misses = fas = 0
    times = []
    crowd = {}
    for p in photos:
        img = read_image(p)
        dets = det(img)  # warm-up and the result that is scored
        t = []
        for _ in range(repeats):
            s = time.perf_counter()
            det(img)
            t.append(time.perf_counter() - s)
        times.append(statistics.median(t) * 1000)
        if p.name in GT:
            h, m, f = match(dets, GT[p.name])
            hits, misses, fas = hits + h, misses + m, fas + f
        elif p.name in CROWD_REFERENCE:
            crowd[p.name] = len(dets)
    n_true = hits + misses
    return {
        "backend": label,
        "photos": len(photos),
        "checked_photos": sum(p.name in GT for p in photos),
        "true_faces": n_true,
        "hits": hits,
        "false_alarms": fas,
        "recall": round(hits / n_true, 4) if n_true else None,
        "precision": round(hits / (hits + fas), 4) if hits + fas else None,
        "ms_per_image_median": round(statistics.median(times), 1),
        "ms_per_image_mean": round(statistics.fmean(times), 1),
        "crowd_detections": sum(crowd.values()),
        "crowd_reference": sum(CROWD_REFERENCE[k] for k in crowd),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS if DEFAULT_PHOTOS.is_dir() else None,
                    help=f"folder of photos (default {DEFAULT_PHOTOS} when it exists)")
    ap.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS, choices=sorted(BACKENDS))
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per photo (median taken)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads for BlazeFace (default 1)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.photos is None or not args.photos.is_dir():
        print(f"error: photo folder not found: {args.photos} (pass --photos DIR)", file=sys.stderr)
        return 2
    photos = sorted((p for p in args.photos.iterdir() if is_image_file(p)), key=lambda p: p.name)
    if not photos:
        print(f"error: no images in {args.photos}", file=sys.stderr)
        return 2

    import cv2

    env = {"python": platform.python_version(), "opencv": cv2.__version__, "cpu_count": os.cpu_count(),
           "machine": platform.machine(),
           "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
    try:
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        env["onnxruntime"] = None
    rows = []
    for label in args.backends:
        name, opts = BACKENDS[label]
        opts = dict(opts)
        if name == "blazeface" and opts.get("engine") != "opencv":
            opts["threads"] = args.threads
        try:
            det = get_detector(name, **opts)
        except UserError as e:
            print(f"skip {label}: {e}")
            continue
        row = bench(label, det, photos, args.repeats)
        row["options"] = {k: v for k, v in opts.items()}
        row["env"] = env
        rows.append(row)
        print(f"done {label}: recall {row['recall']}, {row['ms_per_image_median']} ms", flush=True)

    old = {}
    if args.out.is_file():
        try:
            old = {r["backend"]: r for r in json.loads(args.out.read_text()).get("rows", [])}
        except (ValueError, KeyError, AttributeError):
            old = {}
    merged = {**old, **{r["backend"]: r for r in rows}}
    hdr = (f"{'backend':<24} {'recall':>6} {'prec':>6} {'hits':>5} {'FA':>4} {'ms med':>7} {'ms mean':>8} "
           f"{'crowd':>11}  opencv")
    print("\n" + hdr)
    for r in merged.values():
        crowd = f"{r['crowd_detections']}/{r['crowd_reference']}"
        rec, prec = (f"{v:.3f}" if v is not None else "-" for v in (r["recall"], r["precision"]))
        print(f"{r['backend']:<24} {rec:>6} {prec:>6} {r['hits']:>5} {r['false_alarms']:>4} "
              f"{r['ms_per_image_median']:>7.1f} {r['ms_per_image_mean']:>8.1f} {crowd:>11}  {r['env']['opencv']}")
    print(f"({len(GT)} checked photos, {sum(len(v['faces']) for v in GT.values())} faces; crowd = detections / "
          f"tiled-MediaPipe count on {len(CROWD_REFERENCE)} crowd photos; ms = median over photos of the "
          f"median of {args.repeats} runs)")
    atomic_write_json(args.out, {"benchmark": "detect", "match_iou": MATCH_IOU, "photos_dir": str(args.photos),
                                 "rows": list(merged.values())})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
