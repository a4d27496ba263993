"""Fine-tuning the starter on a few dozen faces: validation NME per epoch, before and after the
small-data safeguards (learning-rate warm-up, frozen BatchNorm statistics, epoch 0 = the starter).

The faces, two kinds (--source):
  lfw    real 350-px portraits (../shared/data/faces-gray) labelled by the starter itself
         (`predict` -> JSONL -> `prepare --format jsonl --crop face --size 128`): the recipe of
         issue 23. The starting model made these labels, so fine-tuning can at best keep its score;
         what is measured is whether it stays there.
  synth  synthetic faces with exact labels (`pipnet106.synth`), a domain the starter never saw:
         fine-tuning should gain, and the safeguards must not take the gain away.
One prepared folder per source: a held-out test split of --test faces (the validation set of every
run, so curves of all sizes are comparable) and nested training lists of the first N of the rest.

Variants (--variants): `old` = the recipe before the safeguards (warmup_steps=0, freeze_bn=false),
`new` = configs/finetune_starter.yaml as shipped; NAME=key:value,key:value defines others (sweeps).
Every run has epoch 0 now, so best.pt never falls below the start; "best trained epoch" is the best
of epochs 1..E, which is what best.pt was before epoch 0 counted.
Every run: --init starter, epochs --epochs, --threads threads, seed 0.

    nice -n 19 python benchmarks/finetune_small.py --source lfw --sizes 40 100 300
    nice -n 19 python benchmarks/finetune_small.py --source synth --sizes 40 100 300

Prints a table and writes benchmarks/results/finetune_small_<source>.json. Minutes of CPU per run.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "finetune_starter.yaml"
FACES = ROOT.parent / "shared" / "data" / "faces-gray"
VARIANTS = {"old": ["warmup_steps=0", "freeze_bn=false"], "new": []}


def cli(*args: str, threads: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-m", "pipnet106", *args], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    if res.returncode not in (0, 1):
        raise SystemExit(f"pipnet106 {' '.join(args)} failed:\n{res.stderr[-2000:]}")
    return res


def prepare_lfw(work: Path, n: int, test: int, faces: Path, threads: int) -> Path:
    """`n` + `test` random LFW portraits (seeded), labelled by the starter, prepared as face crops."""
    import numpy as np

    names = sorted(p.name for p in faces.glob("*.jpg"))
    pick = np.random.default_rng(23).choice(len(names), size=min(len(names), n + test + 20), replace=False)
    src = work / "photos"
    src.mkdir(parents=True, exist_ok=True)
    for i in pick:  # links: `predict` reads the photos where they are, and never writes beside them
        link = src / names[i]
        if not link.exists():
            link.symlink_to(faces / names[i])
    cli("predict", str(src), "--out", str(work / "pred"), "--max-faces", "1", threads=threads)
    data = work / "data"
    cli("prepare", str(work / "pred" / "predictions.jsonl"), "--format", "jsonl", "--crop", "face", "--size",
        "128", "--out", str(data), "--test-frac", f"{test / (n + test):.6f}", "--quiet", "--overwrite",
        threads=threads)
    return data


def prepare_synth(work: Path, n: int, test: int, threads: int) -> Path:
    from pipnet106.synth import generate_dataset

    generate_dataset(work / "raw", n + test, seed=11)
    data = work / "data"
    cli("prepare", str(work / "raw"), "--crop", "face", "--size", "128", "--out", str(data), "--test-frac",
        f"{test / (n + test):.6f}", "--quiet", "--overwrite", threads=threads)
    return data


def train_lists(data: Path, sizes: list[int]) -> dict[int, str]:
    """Nested training lists train_<N>.txt: the first N lines of the prepared train.txt."""
    lines = (data / "train.txt").read_text().splitlines()
    out = {}
    for n in sizes:
        if n > len(lines):
            raise SystemExit(f"{data}: only {len(lines)} training faces, fewer than {n}")
        (data / f"train_{n}.txt").write_text("\n".join(lines[:n]) + "\n")
        out[n] = f"train_{n}.txt"
    return out


def parse_variants(items: list[str]) -> dict[str, list[str]]:
    out = {}
    for item in items:
        if item in VARIANTS:
            out[item] = VARIANTS[item]
        else:
            name, _, sets = item.partition("=")
            out[name] = [kv.replace(":", "=", 1) for kv in sets.split(",") if kv]
    return out


def one_run(data: Path, train_list: str, run: Path, sets: list[str], epochs: int, threads: int) -> dict:
    """Train (or, when `run` is complete from an earlier call, just read) one fine-tuning run."""
    log = run / "train_stderr.log"
    t = time.time()
    if not log.is_file():
        args = ["train", "--config", str(CONFIG), "--data", str(data), "--out", str(run), "--init", "starter",
                "--set", f"train_list={train_list}", "--set", f"epochs={epochs}", "--set", "workers=0",
                "--set", "device=cpu"] + [a for kv in sets for a in ("--set", kv)]
        if run.exists():  # an interrupted earlier call
            import shutil

            shutil.rmtree(run)
        stderr = cli(*args, threads=threads).stderr
        log.write_text(stderr)
    with open(run / "metrics.csv", newline="") as f:
        curve = [float(r["val_nme"]) for r in csv.DictReader(f)]
    best = min(range(len(curve)), key=curve.__getitem__)
    return {"curve": curve, "start": curve[0], "worst": max(curve[1:]), "last": curve[-1], "best": curve[best],
            "best_epoch": best, "best_trained": min(curve[1:]), "warned": "ended worse than it started" in log.read_text(),
            "train_s": round(time.time() - t, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=("lfw", "synth"), default="lfw")
    ap.add_argument("--faces", type=Path, default=FACES, help="LFW portraits for --source lfw")
    ap.add_argument("--sizes", type=int, nargs="+", default=[40, 100, 300])
    ap.add_argument("--test", type=int, default=200, help="held-out faces (the validation set of every run)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--variants", nargs="+", default=["old", "new"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    from pipnet106.fileio import atomic_write_json

    work = a.work or Path(tempfile.mkdtemp(prefix="finetune_small_"))
    data = work / "data"
    if not (data / "test.txt").is_file():
        if a.source == "lfw":
            prepare_lfw(work, max(a.sizes), a.test, a.faces, a.threads)
        else:
            prepare_synth(work, max(a.sizes), a.test, a.threads)
    lists = train_lists(data, a.sizes)
    n_test = len((data / "test.txt").read_text().splitlines())
    variants = parse_variants(a.variants)
    rows = []
    for n in a.sizes:
        for name, sets in variants.items():
            run = work / f"run_{n}_{name}"
            row = {"faces": n, "variant": name, "sets": sets, **one_run(data, lists[n], run, sets, a.epochs,
                                                                           a.threads)}
            rows.append(row)
            print({k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    print(f"\n{a.source}: validation NME (%) on {n_test} held-out faces per epoch; epoch 0 = the starter; "
          f"configs/finetune_starter.yaml, {a.epochs} epochs, {a.threads} threads\n")
    print("| faces | variant | epochs 0.." + str(a.epochs) + " | worst | best trained epoch | best.pt (epoch) | last "
          "| warned |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        curve = ", ".join(f"{v * 100:.2f}" for v in r["curve"])
        print(f"| {r['faces']} | {r['variant']} | {curve} | {r['worst'] * 100:.2f} | {r['best_trained'] * 100:.2f} "
              f"| {r['best'] * 100:.2f} ({r['best_epoch']}) | {r['last'] * 100:.2f} | "
              f"{'yes' if r['warned'] else 'no'} |")
    out = a.out or ROOT / "benchmarks" / "results" / f"finetune_small_{a.source}.json"
    atomic_write_json(out, {"source": a.source, "test_faces": n_test, "epochs": a.epochs, "threads": a.threads,
                            "config": "configs/finetune_starter.yaml", "rows": rows})
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
