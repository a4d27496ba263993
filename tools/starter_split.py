"""Split teacher-labelled faces by person for the starter model (provenance script).

Person = file stem without its trailing number (LFW naming: First_Last_0003).
10% of persons are held out; training faces whose teacher disagreed with
itself under a horizontal flip (flip NME > --max-flip-nme) are dropped from
train only (the held-out set keeps every face, so the reported NME is honest).

    python tools/starter_split.py LABEL_DIR --out SPLIT_DIR
writes SPLIT_DIR/train_names.txt and SPLIT_DIR/test_names.txt for
`pipnet106 prepare --train-list ... --test-list ...`.
"""
import argparse
import json
import re
from pathlib import Path

import numpy as np

from pipnet106.fileio import atomic_write_text


def person(stem: str) -> str:
    return re.sub(r"_\d+$", "", stem)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labels", help="autolabel output folder (labels/, autolabel.jsonl)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--test-frac", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-flip-nme", type=float, default=0.08)
    a = ap.parse_args()
    recs = [json.loads(line) for line in open(Path(a.labels) / "autolabel.jsonl")]
    flip = {}
    for r in recs:  # one record per image; faces sorted largest first
        if r.get("faces") and r["faces"][0]["flip_nme"] is not None:
            flip[Path(r["image"]).stem] = r["faces"][0]["flip_nme"]
    stems = sorted(p.stem for p in (Path(a.labels) / "labels").rglob("*.txt"))
    persons = sorted({person(s) for s in stems})
    rng = np.random.default_rng(a.seed)
    held = set(rng.choice(persons, size=int(round(len(persons) * a.test_frac)), replace=False).tolist())
    test = [s for s in stems if person(s) in held]
    train = [s for s in stems if person(s) not in held and flip.get(s, 1.0) <= a.max_flip_nme]
    dropped = sum(1 for s in stems if person(s) not in held) - len(train)
    atomic_write_text(Path(a.out) / "train_names.txt", "\n".join(train) + "\n")
    atomic_write_text(Path(a.out) / "test_names.txt", "\n".join(test) + "\n")
    print(f"{len(persons)} persons, {len(held)} held out; train {len(train)} faces "
          f"({dropped} dropped for flip NME > {a.max_flip_nme}), test {len(test)} faces")


if __name__ == "__main__":
    main()
