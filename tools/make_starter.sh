#!/usr/bin/env bash
# How starter v1 was made (provenance; about 1.5 h on a 2-core CPU). The shipped starter is v2,
# fine-tuned from v1: tools/make_starter_v2.sh.
# Needs ../shared/data/faces-gray and the teacher environment (`make teacher-env`).
set -euo pipefail
POOL=${POOL:-../shared/data/faces-gray}
WORK=${WORK:-starter_work}
.venv/bin/pipnet106 autolabel "$POOL" --out "$WORK/labels" || [ $? -eq 1 ]  # teacher -> 106 points; exit 1 = some photos had no face
.venv/bin/python tools/starter_split.py "$WORK/labels" --out "$WORK/split"   # 10% of persons held out
.venv/bin/pipnet106 prepare "$POOL" --labels-dir "$WORK/labels/labels" --out "$WORK/data128" \
    --crop face --size 128 --train-list "$WORK/split/train_names.txt" --test-list "$WORK/split/test_names.txt" || [ $? -eq 1 ]  # 1 = some samples skipped
.venv/bin/pipnet106 train --config configs/starter_mbv2_320_s16_128.yaml --data "$WORK/data128" --out "$WORK/run128"
.venv/bin/pipnet106 eval --weights "$WORK/run128/best.pt" --data "$WORK/data128"
.venv/bin/pipnet106 export --weights "$WORK/run128/best.pt" --out src/pipnet106/assets/starter.pt --fp16-weights
.venv/bin/pipnet106 export --weights src/pipnet106/assets/starter.pt --out src/pipnet106/assets/starter.onnx --fp16-weights
# int8 twin (opt-in, see README "Speed"): calibrated on 300 training-person crops of the same data
.venv/bin/pipnet106 export --weights src/pipnet106/assets/starter.pt --out src/pipnet106/assets/starter_int8.onnx \
    --int8 --calib "$WORK/data128" --calib-count 300
