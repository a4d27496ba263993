"""NME against the teacher per pool, region and pose bucket, for several models (provenance script).

Each pool is a `prepare`d folder whose test.txt is that pool's held-out set; the pose bucket of
each face comes from SPLIT/<pool>/poses.json (tools/v2_split.py). Crops come from the teacher's
points (the training crop rule), as in the starter's model card.

    python tools/v2_eval.py --weights v1=src/pipnet106/assets/starter.pt v2=runs/v2/best.pt \
        --pools lfw=/work/data/prep/lfw utk=/work/data/prep/utk --splits /work/data/split --out eval.json
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from pipnet106.models.checkpoint import load_model
from pipnet106.data.dataset import LandmarkDataset
from pipnet106.train.evaluate import nme, predict_loader
from pipnet106.fileio import atomic_write_json

REGIONS = ("contour", "brows", "nose", "eyes", "mouth", "pupils")
POSES = ("frontal", "three_quarter", "profile")


def pose_of(prep: Path, splits: Path, pool: str) -> dict[str, str]:
    """Prepared image name -> pose bucket, via the manifest's source path."""
    m = json.loads((prep / "manifest.json").read_text())
    root = Path(m["sources"][0])
    poses = json.loads((splits / pool / "poses.json").read_text())
    return {s["image"]: poses[Path(s["source"]).relative_to(root).with_suffix("").as_posix()]["pose"]
            for s in m["samples"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", nargs="+", required=True, help="name=checkpoint")
    ap.add_argument("--pools", nargs="+", required=True, help="name=prepared folder")
    ap.add_argument("--splits", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = dict(w.split("=", 1) for w in a.weights)
    pools = dict(p.split("=", 1) for p in a.pools)
    res: dict = {}
    for mname, path in models.items():
        lm = load_model(path)
        lay = lm.layout
        for pname, prep in pools.items():
            ds = LandmarkDataset(prep, "test.txt", lm.cfg, lay, lm.nb, train=False)
            pred, _, gt = predict_loader(lm.model, lm.decoder, DataLoader(ds, batch_size=64), torch.device("cpu"), lay)
            per = nme(pred, gt, lay)
            reg = {g: nme(pred, gt, lay, points=lay.region_index(g)) for g in REGIONS}
            pose = pose_of(Path(prep), Path(a.splits), pname)
            buckets = np.array([pose[e[0]] for e in ds.entries])
            row = {"n": int(len(per)), "nme": float(per.mean()), **{g: float(v.mean()) for g, v in reg.items()},
                   "pose": {b: {"n": int((buckets == b).sum()), "nme": float(per[buckets == b].mean()),
                                **{g: float(reg[g][buckets == b].mean()) for g in REGIONS}}
                            for b in POSES if (buckets == b).any()}}
            res.setdefault(pname, {})[mname] = row
            print(f"{pname:9s} {mname:6s} n={row['n']:5d} NME {row['nme'] * 100:5.2f}  "
                  + " ".join(f"{g} {row[g] * 100:5.2f}" for g in REGIONS)
                  + "  | " + " ".join(f"{b} {v['nme'] * 100:5.2f} ({v['n']})" for b, v in row["pose"].items()),
                  flush=True)
    names = list(models)
    if len(names) >= 2:
        base = names[0]
        for pname, rows in res.items():
            for m in names[1:]:
                rows[m]["change_vs_" + base] = {k: rows[m][k] / rows[base][k] - 1 for k in ("nme",) + REGIONS}
    atomic_write_json(a.out, res)


if __name__ == "__main__":
    main()
