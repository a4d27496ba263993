"""Held-out splits of teacher-labelled pools for the v2 starter (provenance script).

For each pool folder written by `pipnet106 autolabel` (labels/, autolabel.jsonl):
  - LFW (`--by lfw`): by person (stem without its trailing number), the same persons as the
    v1 starter's held-out set (tools/starter_split.py: 10% of the persons of every photo
    with a face, seed 0), so v1 is never tested on faces it trained on;
  - Prima / Pointing'04 (`--by folder`): by person (first folder, Person01..15), `--test-persons` held out;
  - anything else (`--by image`): a seeded `--test-frac` of the photos.
Only faces that passed the mirror check (a label file exists) enter train or test. Writes
SPLIT/train_names.txt, SPLIT/test_names.txt (for `prepare --train-list/--test-list`) and
SPLIT/poses.json (relative stem -> yaw, pose bucket, flip_nme) for pose-balanced sampling and
the per-pose report.

    python tools/v2_split.py LABELS_DIR --out SPLIT_DIR --by lfw|folder|image
"""
import argparse
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from pipnet106.teacher.autolabel import pose_bucket
from pipnet106.infer.pose import head_pose
from pipnet106.fileio import atomic_write_json, atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labels", help="autolabel output folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--by", choices=("lfw", "folder", "image"), required=True)
    ap.add_argument("--test-frac", type=float, default=0.1)
    ap.add_argument("--test-persons", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--held-persons", help="lfw: file of held-out person names (instead of drawing them from this pool)")
    a = ap.parse_args()
    recs = [json.loads(line) for line in open(Path(a.labels) / "autolabel.jsonl")]
    found = [r for r in recs if r["status"] == "ok"]
    stem = {r["image"]: str(Path(r["image"]).with_suffix("")) for r in found}
    kept = {stem[r["image"]]: next(f for f in r["faces"] if f["kept"]) for r in found if r.get("label")}
    rng = np.random.default_rng(a.seed)
    if a.by == "lfw":  # exactly tools/starter_split.py's person draw
        person = {s: re.sub(r"_\d+$", "", Path(s).name) for s in stem.values()}
        persons = sorted(set(person.values()))
        if a.held_persons:
            held = {ln.strip() for ln in open(a.held_persons) if ln.strip()}
        else:
            held = set(rng.choice(persons, size=int(round(len(persons) * a.test_frac)), replace=False).tolist())
        is_test = {s: person[s] in held for s in kept}
    elif a.by == "folder":
        person = {s: Path(s).parts[0] for s in stem.values()}
        persons = sorted(set(person.values()))
        held = set(rng.choice(persons, size=a.test_persons, replace=False).tolist())
        is_test = {s: person[s] in held for s in kept}
    else:
        names = sorted(stem.values())
        held = set(rng.choice(names, size=int(round(len(names) * a.test_frac)), replace=False).tolist())
        is_test = {s: s in held for s in kept}
        persons = names
    poses = {}
    for s, f in kept.items():
        pose = head_pose(np.asarray(f["points"]))
        yaw = None if pose is None else round(pose.yaw, 1)
        poses[s] = {"yaw": yaw, "pose": pose_bucket(yaw),
                    "flip_nme": f["flip_nme"], "face_size": f["face_size"], "test": is_test[s]}
    train = sorted(s for s in kept if not is_test[s])
    test = sorted(s for s in kept if is_test[s])
    out = Path(a.out)
    atomic_write_text(out / "train_names.txt", "\n".join(train) + "\n")
    atomic_write_text(out / "test_names.txt", "\n".join(test) + "\n")
    atomic_write_json(out / "poses.json", poses)
    count = {k: dict(Counter(poses[s]["pose"] for s in v)) for k, v in (("train", train), ("test", test))}
    info = {"labels": a.labels, "by": a.by, "units": len(persons), "held_units": len(held),
            "train": len(train), "test": len(test), "pose": count}
    if a.by != "image":
        info["held"] = sorted(held) if a.by == "folder" else len(held)
    atomic_write_json(out / "split.json", info)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
