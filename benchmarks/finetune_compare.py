"""Fine-tuning on a few hundred labels: from each starter vs from scratch, same recipe and budget.

"Your own labels" are synthetic faces (`pipnet106.synth.faces`: drawn faces, colour, exact points, a
domain no starter saw): --train faces to train on, --test others to test on, cropped by
`prepare --crop face --size 128`. Every run uses configs/finetune_starter.yaml (15 epochs, Adam
5e-4, x0.1 at epochs 10 and 13, batch 16) on --threads threads; a starter keeps its own input
(grayscale for v1, colour for v2) and scratch uses colour. Reported: NME on the test faces of
each starter before fine-tuning, after fine-tuning, and of the scratch run, plus wall time.

    python benchmarks/finetune_compare.py --init v1=old_starter.pt v2=src/pipnet106/assets/starter.pt

Prints a table and writes benchmarks/results/finetune_compare.json. Several minutes of CPU per run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "finetune_starter.yaml"


def cli(*args: str, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-m", "pipnet106", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def grayscale_of(checkpoint: str) -> bool:
    from pipnet106.models.checkpoint import read_checkpoint

    return bool(read_checkpoint(checkpoint)["config"].get("grayscale", False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", nargs="+", required=True, metavar="NAME=CKPT", help="starters to fine-tune from")
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "finetune_compare.json")
    a = ap.parse_args()
    from pipnet106.train.evaluate import evaluate
    from pipnet106.fileio import atomic_write_json
    from pipnet106.synth.faces import generate_dataset

    work = a.work or Path(tempfile.mkdtemp(prefix="finetune_compare_"))
    n = a.train + a.test
    raw, data = work / "raw", work / "data"
    if not (data / "test.txt").is_file():
        generate_dataset(raw, n, seed=7)
        cli("prepare", str(raw), "--out", str(data), "--crop", "face", "--size", "128",
            "--test-frac", f"{a.test / n:.6f}", "--overwrite", threads=a.threads)
    inits = dict(kv.split("=", 1) for kv in a.init)
    rows = []
    for name, ck in list(inits.items()) + [("scratch", "")]:
        gray = grayscale_of(ck) if ck else False
        row = {"model": name, "init": ck, "grayscale": gray}
        if ck:
            row["before_nme"] = evaluate(ck, data)["nme"]
        run = work / f"run_{name}"
        args = ["train", "--config", str(CONFIG), "--data", str(data), "--out", str(run),
                "--set", f"grayscale={str(gray).lower()}"] + (["--init", ck] if ck else [])
        if (run / "last.pt").is_file():
            args = ["train", "--resume", str(run)]
        t = time.time()
        cli(*args, threads=a.threads)
        row["train_s"] = round(time.time() - t, 1)
        row["after_nme"] = evaluate(run / "best.pt", data)["nme"]
        rows.append(row)
        print(row, flush=True)
    print(f"\n{a.train} training / {a.test} test synthetic faces, configs/finetune_starter.yaml, {a.threads} threads\n")
    print("| model | NME before fine-tuning | NME after | training wall time |")
    print("|---|---|---|---|")
    for r in rows:
        before = f"{100 * r['before_nme']:.2f}%" if "before_nme" in r else "–"
        print(f"| {r['model']} | {before} | {100 * r['after_nme']:.2f}% | {r['train_s'] / 60:.1f} min |")
    atomic_write_json(a.out, {"train_faces": a.train, "test_faces": a.test, "threads": a.threads,
                              "config": str(CONFIG.relative_to(ROOT)), "rows": rows})
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
