#!/usr/bin/env bash
# Issue 22 (points that follow the face): the runs that try to make the starter follow local changes,
# and how a v3 would be built from them. DATA as in tools/make_starter_v2.sh (prep256/ = the same
# pools and splits prepared at 256 px, so the shape augmentation warps at twice the input's pixel
# density). Every step resumes: train --resume RUN. One thread each (two threads on a busy 2-core
# machine ran ten times slower).
set -euo pipefail
DATA=${DATA:-/work/data}
RUNS=${RUNS:-$DATA/runs}
T="env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/pipnet106"
# lever 1: the face model fine-tuned from v2 with the shape augmentation and the visibility head
$T train --config configs/fidelity_shape.yaml --data "$DATA/prep256/mix2_256" --out "$RUNS/r1_shape" --init starter
# lever 2: the local stage, part models for the eye and the mouth from the starter's backbone
$T train --config configs/fidelity_eye.yaml --data "$DATA/prep256/mix2_256" --out "$RUNS/r2_eye" --init starter \
    --set epochs=8 --set "decay_epochs=[6,7]"
$T train --config configs/fidelity_mouth.yaml --data "$DATA/prep256/mix2_256" --out "$RUNS/r3_mouth" --init starter \
    --set epochs=8 --set "decay_epochs=[6,7]"
# one file with its part models beside it (<out>.eye.onnx, <out>.mouth.onnx, named with their SHA-256)
$T export --weights "$RUNS/r1_shape/best.pt" --out "$RUNS/v3/starter.onnx" --fp16-weights \
    --parts "$RUNS/r2_eye/best.pt" "$RUNS/r3_mouth/best.pt"
# the comparison the ship decision reads: follow per part, NME per region, ms/face, per model
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/follow.py v2=src/pipnet106/assets/starter.onnx \
    r1="$RUNS/r1_shape/best.pt" v3="$RUNS/v3/starter.onnx" --pools "$DATA/prep" --faces 40 --synthetic 40
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/visibility.py r1="$RUNS/r1_shape/best.pt" --pools "$DATA/prep"
