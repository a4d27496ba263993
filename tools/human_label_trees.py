"""Folder trees for the human-label runs (tools/human_label_runs.sh): per split (train: HELEN and LFPW
training faces; test: HELEN test, AFW, LFPW test), links to each photo with its 300-W `.pts`
(`human_<split>/`), the teacher's 106-point label of the same photo for `prepare --fill-from`
(`fill_<split>/`), and the photo with the teacher's label alone (`teacher_<split>/`).

    python tools/human_label_trees.py [HUMAN_DIR] [TEACHER_DIR] [OUT_DIR]
"""
import os
import shutil
import sys
from pathlib import Path

SETS = {"train": [("helen", "helen/trainset"), ("lfpw", "lfpw/trainset")],
        "test": [("helen", "helen/testset"), ("afw", "afw/afw"), ("lfpw", "lfpw/testset")]}


def link(src: Path, folder: Path) -> None:
    if not (folder / src.name).exists():
        os.symlink(src.resolve(), folder / src.name)


def main() -> None:
    H, T, M = (Path(a) for a in (sys.argv[1:4] if len(sys.argv) > 3 else
                                 ("/work/data/human", "/work/data/teacher", "/work/data/mix")))
    for split, parts in SETS.items():
        for name, rel in parts:
            human, teacher, fill = (M / f"{kind}_{split}" / name for kind in ("human", "teacher", "fill"))
            for folder in (human, teacher, fill):
                folder.mkdir(parents=True, exist_ok=True)
            for img in sorted([*(H / rel).glob("*.jpg"), *(H / rel).glob("*.png")]):
                if img.with_suffix(".pts").exists():
                    link(img, human)
                    link(img.with_suffix(".pts"), human)
                label = T / rel.replace("/", "_") / "labels" / f"{img.stem}.txt"
                if label.exists():
                    shutil.copy(label, fill / label.name)
                    link(img, teacher)
                    shutil.copy(label, teacher / label.name)
    for p in sorted(M.glob("*/*")):
        print(p, len(list(p.iterdir())))


if __name__ == "__main__":
    main()
