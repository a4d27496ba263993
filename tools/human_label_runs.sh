#!/usr/bin/env bash
# Issue 22, human labels: the runs behind docs/model-card.md "What human labels add" and "Into the eye
# model". 300-W labels with their photos: HELEN and AFW from Spinkoo/Face-alignement (helen/, afw/),
# LFPW from tntrung/sdm_face_alignment at 0478bd013e43dec9197411d45617cd30a20876fb (data/lfpw; six
# large PNGs are missing there: their labels are left out). Research-only terms (300-W).
# HUMAN=/work/data/human holds helen/{trainset,testset}, afw/afw, lfpw/{trainset,testset}.
set -euo pipefail
DATA=${DATA:-/work/data}
HUMAN=${HUMAN:-$DATA/human}
RUNS=${RUNS:-$DATA/runs}
P=".venv/bin/pipnet106"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# the terms of these labels, recorded in every checkpoint beside the starter's (inherited by --init);
# no ": " in the value, --set reads it as YAML
TERMS="data_terms=research only (300-W annotations of HELEN, LFPW and AFW, and MediaPipe teacher labels of those photos)"
# the teacher's labels of every photo (make teacher-env once)
for d in helen/trainset helen/testset afw/afw lfpw/trainset lfpw/testset; do
  $P autolabel "$HUMAN/$d" --out "$DATA/teacher/${d//\//_}" --resume
done
.venv/bin/python tools/human_label_trees.py "$HUMAN" "$DATA/teacher" "$DATA/mix"
M=$DATA/mix; O=$DATA/prep
$P prepare $M/human_train --out $O/h_train --crop face --size 128 --labels-layout ibug68 --quiet
$P prepare $M/human_train --out $O/ht_train --crop face --size 128 --labels-layout ibug68 --fill-from $M/fill_train --quiet
$P prepare $M/teacher_train --out $O/t_train --crop face --size 128 --quiet
$P prepare $M/human_train --out $O/ht_train256 --crop face --size 256 --labels-layout ibug68 --fill-from $M/fill_train --quiet
$P prepare $M/teacher_train --out $O/t_train256 --crop face --size 256 --quiet
$P prepare $M/human_test --out $O/ht_test256 --crop face --size 256 --labels-layout ibug68 --fill-from $M/fill_test --test-frac 0 --quiet
# the face model: three fine-tunes of v2 that differ only in their labels
for n in ht t h; do
  $P train --config configs/finetune_starter.yaml --data $O/${n}_train --out $RUNS/$n --init starter --set "$TERMS" \
      --set epochs=10 --set "decay_epochs=[7,9]"
done
# the eye model on teacher vs human + teacher labels of the same photos
for n in ht t; do
  $P train --config configs/fidelity_eye.yaml --data $O/${n}_train256 --out $RUNS/eye_$n --init starter --set "$TERMS" \
      --set epochs=6 --set "decay_epochs=[4,5]" --set max_steps_per_epoch=200
done
S=src/pipnet106/assets
.venv/bin/python benchmarks/human_labels.py v2=$S/starter.pt teacher_ft=$RUNS/t/best.pt human_ft=$RUNS/h/best.pt \
    human_teacher_ft=$RUNS/ht/best.pt --data $O/ht_test256 --list train.txt --follow-faces 120
.venv/bin/python benchmarks/human_labels.py v2=$S/starter.pt v2_eye_shipped=$S/starter.pt+$S/starter_eye.onnx \
    v2_eye_teacher=$S/starter.pt+$RUNS/eye_t/best.pt v2_eye_human_teacher=$S/starter.pt+$RUNS/eye_ht/best.pt \
    ht_eye_human_teacher=$RUNS/ht/best.pt+$RUNS/eye_ht/best.pt --data $O/ht_test256 --list train.txt \
    --follow-faces 120 --json benchmarks/results/human_labels_eye.json
# a longer budget (session 9): the eye model 16 epochs, the face model 20, both on human + teacher labels
$P train --config configs/fidelity_eye.yaml --data $O/ht_train256 --out $RUNS/eye_ht_long --init starter --set "$TERMS" \
    --set epochs=16 --set "decay_epochs=[11,14]" --set max_steps_per_epoch=200
$P train --config configs/finetune_starter.yaml --data $O/ht_train --out $RUNS/ht_long --init starter --set "$TERMS" \
    --set epochs=20 --set "decay_epochs=[12,17]"
.venv/bin/python benchmarks/human_labels.py v2_eye_shipped=$S/starter.pt+$S/starter_eye.onnx \
    ht_eye_ht=$RUNS/ht/best.pt+$RUNS/eye_ht/best.pt v2_eye_ht_long=$S/starter.pt+$RUNS/eye_ht_long/best.pt \
    ht_long=$RUNS/ht_long/best.pt ht_long_eye_ht_long=$RUNS/ht_long/best.pt+$RUNS/eye_ht_long/best.pt \
    --data $O/ht_test256 --list train.txt --follow-faces 120 --json benchmarks/results/human_labels_long.json
# the same held-out faces in grayscale (the starter's LFW pool is grayscale; these models saw colour only)
.venv/bin/python - "$O/ht_test256" "$O/ht_test256_gray" <<'PY'
import shutil, sys
from pathlib import Path
import cv2
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
(dst / "images").mkdir(parents=True, exist_ok=True)
for f in ("manifest.json", "meanface.txt", "train.txt", "test.txt"):
    shutil.copy(src / f, dst / f)
for p in (src / "images").iterdir():
    g = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(dst / "images" / p.name), cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))
PY
.venv/bin/python benchmarks/human_labels.py v2=$S/starter.pt v2_eye_shipped=$S/starter.pt+$S/starter_eye.onnx \
    v2_eye_ht_long=$S/starter.pt+$RUNS/eye_ht_long/best.pt ht_long_eye_ht_long=$RUNS/ht_long/best.pt+$RUNS/eye_ht_long/best.pt \
    --data $O/ht_test256_gray --list train.txt --follow-faces 120 --json benchmarks/results/human_labels_long_gray.json
