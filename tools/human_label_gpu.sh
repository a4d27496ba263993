#!/usr/bin/env bash
# Issue 22, session 10: the human + teacher eye models (and a longer face model) trained on a lent GPU
# (one H200, 16 cores), five runs in parallel, all from the starter on the 1,675 HELEN/LFPW training
# photos of tools/human_label_runs.sh (ht_train256; LFPW's PNGs re-encoded as JPEG q92 to travel).
#   eye: configs/fidelity_eye.yaml, 20 epochs of 94 steps (1,880, vs 1,504 for eye_ht_long)
#        e_base (the recipe), e_strong (shape_prob 0.9, shape_strength 1.5), e64 (input 64 px),
#        e64_strong (both)
#   face: configs/finetune_starter.yaml on the same faces at 128 px (resized from 256), 100 epochs
#        planned, stopped by the time limit in epoch 87 (best.pt of epoch 86)
#   second lease: eye e80, e96 (input 80, 96 px; 5 workers each) and the mouth model m_ht
#        (configs/fidelity_mouth.yaml, 40 epochs, decay at 28 and 36)
# Usage on the GPU machine: bash tools/human_label_gpu.sh DATA256 OUTDIR DEADLINE_S [first|second]
# Evaluated here (benchmarks/results/human_labels_gpu.json; G = the returned checkpoints), e.g.
#   python benchmarks/human_labels.py v2_eye_gpu64=src/pipnet106/assets/starter.pt+$G/e64.pt \
#       flong_eye_gpu80_mouth_ht=$G/f_long.pt+$G/e80.pt+$G/m_ht.pt ... --data $O/ht_test256 --list train.txt \
#       --follow-faces 120   (and --data $O/ht_test256_gray for the grayscale copies)
#   pipnet106 export --weights $G/f_long.pt --out e80/starter.onnx --fp16-weights --parts $G/e80.pt $G/m_ht.pt
#   pipnet106 bench --weights src/pipnet106/assets/starter.onnx e48/starter.onnx e64/starter.onnx ... --batch 1 8
set -u
DATA=$1; OUTD=$2; DEADLINE=$3; PART=${4:-first}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
PY=${PY:-python3}
R=/tmp/gpuruns; rm -rf $R; mkdir -p $R
# the 128 px face data: the 256 px crops resized (labels are normalized, the same lines)
$PY - "$DATA" /tmp/ht128 <<'PY'
import json, shutil, sys
from pathlib import Path
import cv2
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
(dst / "images").mkdir(parents=True, exist_ok=True)
for p in (src / "images").iterdir():
    small = cv2.resize(cv2.imread(str(p)), (128, 128), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(dst / "images" / p.name), small, [cv2.IMWRITE_JPEG_QUALITY, 95])
for f in ("train.txt", "test.txt", "meanface.txt"):
    shutil.copy(src / f, dst / f)
m = json.loads((src / "manifest.json").read_text())
m["input_size"] = 128
for s in m.get("samples", []):
    t = s["transform"]
    t.update(scale=t["scale"] / 2, offset_x=t["offset_x"] / 2, offset_y=t["offset_y"] / 2, size=128)
(dst / "manifest.json").write_text(json.dumps(m))
PY
TERMS="data_terms=research only (300-W annotations of HELEN, LFPW and AFW, and MediaPipe teacher labels of those photos)"
EYE="--set epochs=20 --set decay_epochs=[14,18] --set workers=3"
STRONG="--set shape_prob=0.9 --set shape_strength=1.5"
T="$PY -m pipnet106 train --init starter --set"
if [ "$PART" = first ]; then
  NAMES="e_base e_strong e64 e64_strong f_long"
  $T "$TERMS" --config configs/fidelity_eye.yaml --data "$DATA" --out $R/e_base $EYE > $R/e_base.log 2>&1 &
  $T "$TERMS" --config configs/fidelity_eye.yaml --data "$DATA" --out $R/e_strong $EYE $STRONG > $R/e_strong.log 2>&1 &
  $T "$TERMS" --config configs/fidelity_eye.yaml --data "$DATA" --out $R/e64 $EYE --set input_size=64 > $R/e64.log 2>&1 &
  $T "$TERMS" --config configs/fidelity_eye.yaml --data "$DATA" --out $R/e64_strong $EYE --set input_size=64 $STRONG \
      > $R/e64_strong.log 2>&1 &
  $T "$TERMS" --config configs/finetune_starter.yaml --data /tmp/ht128 --out $R/f_long --set epochs=100 \
      --set "decay_epochs=[70,90]" --set workers=3 > $R/f_long.log 2>&1 &
else
  NAMES="e80 e96 m_ht"
  EYE="--set epochs=20 --set decay_epochs=[14,18] --set workers=5"
  $T "$TERMS" --config configs/fidelity_eye.yaml --data "$DATA" --out $R/e80 $EYE --set input_size=80 > $R/e80.log 2>&1 &
  $T "$TERMS" --config configs/fidelity_eye.yaml --data "$DATA" --out $R/e96 $EYE --set input_size=96 > $R/e96.log 2>&1 &
  $T "$TERMS" --config configs/fidelity_mouth.yaml --data "$DATA" --out $R/m_ht --set epochs=40 \
      --set "decay_epochs=[28,36]" --set workers=4 > $R/m_ht.log 2>&1 &
fi
RUNS=$(jobs -p)
( sleep "$DEADLINE"; pkill -f "pipnet106 train" ) &   # the lease's limit: best.pt so far stays
WATCH=$!
wait $RUNS
kill $WATCH 2>/dev/null
# best.pt without the optimizer state (small enough to bring back): an inference-only checkpoint
for n in $NAMES; do
  $PY -m pipnet106 export --weights $R/$n/best.pt --out "$OUTD/$n.pt"
  cp $R/$n/metrics.csv "$OUTD/${n}_metrics.csv"
done
