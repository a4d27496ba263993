"""One training folder over several prepared pools, pose-balanced by repetition (provenance script).

Links each pool's prepared images into MIX/<pool>/, writes MIX/train.txt with every training face
repeated by its pose bucket (`--repeat frontal=1 three_quarter=2 profile=3`) and small pools
(< `--small` faces) doubled, and MIX/test.txt = a validation slice taken out of the training
faces (`--val-frac`, at most `--val-max` per pool) for choosing the checkpoint. The pools'
own test.txt (the held-out sets) are never read here.

    python tools/v2_mix.py --pools lfw=/work/data/prep/lfw utk=... --splits /work/data/split --out /work/data/prep/mix
"""
import argparse
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from pipnet106.fileio import atomic_write_json, atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pools", nargs="+", required=True, help="name=prepared folder")
    ap.add_argument("--splits", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeat", nargs="+", default=["frontal=1", "three_quarter=2", "profile=3"])
    ap.add_argument("--small", type=int, default=500)
    ap.add_argument("--val-frac", type=float, default=0.03)
    ap.add_argument("--val-max", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rep = {k: int(v) for k, v in (r.split("=") for r in a.repeat)}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    train, val, stats = [], [], {}
    for spec in a.pools:
        name, prep = spec.split("=", 1)
        prep = Path(prep)
        link = out / name
        if link.is_symlink():
            link.unlink()
        os.symlink(prep.resolve() / "images", link)
        m = json.loads((prep / "manifest.json").read_text())
        root = Path(m["sources"][0])
        poses = json.loads((Path(a.splits) / name / "poses.json").read_text())
        pose_of = {s["image"]: poses[Path(s["source"]).relative_to(root).with_suffix("").as_posix()]["pose"]
                   for s in m["samples"]}
        lines = [ln for ln in (prep / "train.txt").read_text().splitlines() if ln.strip()]
        n_val = min(a.val_max, int(round(len(lines) * a.val_frac)))
        val_idx = set(rng.choice(len(lines), size=n_val, replace=False).tolist())
        small = 2 if len(lines) < a.small else 1
        count = Counter()
        for i, ln in enumerate(lines):
            img, rest = ln.split(" ", 1)
            new = f"{name}/{Path(img).name} {rest}"
            if i in val_idx:
                val.append(new)
                continue
            k = rep[pose_of[img]] * small
            train.extend([new] * k)
            count[pose_of[img]] += k
        stats[name] = {"faces": len(lines) - n_val, "val": n_val, "samples_per_epoch": sum(count.values()),
                       "by_pose": dict(count)}
    order = rng.permutation(len(train))
    atomic_write_text(out / "train.txt", "".join(train[i] + "\n" for i in order))
    atomic_write_text(out / "test.txt", "".join(v + "\n" for v in val))
    first = Path(a.pools[0].split("=", 1)[1])
    shutil.copyfile(first / "meanface.txt", out / "meanface.txt")
    atomic_write_json(out / "mix.json", {"repeat": rep, "pools": stats, "train_lines": len(train), "val": len(val)})
    print(json.dumps(stats, indent=1), len(train), len(val))


if __name__ == "__main__":
    main()
