#!/usr/bin/env bash
# How starter v2 was made (provenance). Pools are public GitHub repositories, extracted outside the
# repo (see the model card in README.md for sources, counts and terms); DATA holds pools/, labels/,
# split/, prep/. Every step is resumable: autolabel --resume, train --resume.
set -euo pipefail
DATA=${DATA:-/work/data}
PY=.venv/bin/python
label() { .venv/bin/pipnet106 autolabel "$2" --out "$DATA/labels/$1" --resume --max-disagree 0.05 ${3:+--max-images $3} || test $? -eq 1; }
label prima    "$DATA/pools/prima/HPE/Prima_Dataset"            # Pointing'04, Person01..15 (Front/ left out)
label webmorph "$DATA/pools/webmorph/inst"                       # 3dsk/ left out (educational-use source photos)
label mebeauty "$DATA/pools/mebeauty/original_images"
label utk1     "$DATA/pools/utk/crop_part1"                      # used: the first 1,947 photos in path order
label lfw      "$DATA/pools/lfw_sub"                             # v1's 371 held-out persons + 1,500 other photos
label cuhk     "$DATA/pools/cuhk/net_7876" 1200
label aaf      "$DATA/pools/aaf/All-Age-Faces Dataset/original images" 1500
$PY tools/v2_split.py "$DATA/labels/prima" --out "$DATA/split/prima" --by folder --test-persons 3
$PY tools/v2_split.py "$DATA/labels/lfw" --out "$DATA/split/lfw" --by lfw --held-persons "$DATA/pools/lfw_sub_v1_heldout_persons.txt"
$PY tools/v2_split.py "$DATA/labels/webmorph" --out "$DATA/split/webmorph" --by image --test-frac 0.2
for p in mebeauty cuhk aaf; do $PY tools/v2_split.py "$DATA/labels/$p" --out "$DATA/split/$p" --by image; done
$PY tools/v2_split.py "$DATA/labels/utk1" --out "$DATA/split/utk" --by image
# prepare each pool (face crop, 128) with its split: see $DATA/prep_pool.sh; then one pose-balanced mix
$PY tools/v2_mix.py --pools lfw="$DATA/prep/lfw" utk="$DATA/prep/utk" mebeauty="$DATA/prep/mebeauty" \
    prima="$DATA/prep/prima" cuhk="$DATA/prep/cuhk" aaf="$DATA/prep/aaf" webmorph="$DATA/prep/webmorph" \
    --splits "$DATA/split" --out "$DATA/prep/mix"
# LFW (grayscale, v1's own domain) three times in the list: mix2 = mix + its LFW lines twice more
mkdir -p "$DATA/prep/mix2"
cp "$DATA/prep/mix/test.txt" "$DATA/prep/mix/meanface.txt" "$DATA/prep/mix2/"
{ cat "$DATA/prep/mix/train.txt"; grep '^lfw/' "$DATA/prep/mix/train.txt"; grep '^lfw/' "$DATA/prep/mix/train.txt"; } > "$DATA/prep/mix2/train.txt"
for p in lfw utk mebeauty prima cuhk aaf webmorph; do ln -sfn "$DATA/prep/$p/images" "$DATA/prep/mix2/$p"; done
$PY tools/gray_to_color.py src/pipnet106/assets/starter.pt --out "$DATA/runs/starter_color.pt"   # v1, colour input, same function
# (the shipped run was stopped once in epoch 7 and resumed: same weights as an unbroken run)
OMP_NUM_THREADS=2 .venv/bin/pipnet106 train --config configs/starter_v2.yaml --data "$DATA/prep/mix2" --out "$DATA/runs/v2c" \
    --init "$DATA/runs/starter_color.pt"
$PY tools/v2_eval.py --weights v1=src/pipnet106/assets/starter.pt v2="$DATA/runs/v2c/best.pt" --splits "$DATA/split" \
    --pools lfw="$DATA/prep/lfw" utk="$DATA/prep/utk" mebeauty="$DATA/prep/mebeauty" prima="$DATA/prep/prima" \
    cuhk="$DATA/prep/cuhk" aaf="$DATA/prep/aaf" webmorph="$DATA/prep/webmorph" --out "$DATA/eval/v1_v2.json"
# release files (float16 weights); the config's data_terms becomes the ONNX's training_data_terms field
# (the shipped run wrote data_terms into best.pt's config after training: same weights)
.venv/bin/pipnet106 export --weights "$DATA/runs/v2c/best.pt" --out src/pipnet106/assets/starter.pt --fp16-weights
.venv/bin/pipnet106 export --weights src/pipnet106/assets/starter.pt --out src/pipnet106/assets/starter.onnx --fp16-weights
# int8 twin (opt-in, see README "Speed"): calibrated on 300 crops of the training list
.venv/bin/pipnet106 export --weights src/pipnet106/assets/starter.pt --out src/pipnet106/assets/starter_int8.onnx \
    --int8 --calib "$DATA/prep/mix" --calib-count 300
# the visibility output (docs/model-card.md "Per-point visibility"): v2 frozen, only its visibility head
# trained on v2's data with every occluder kind pasted, in two stages, then one calibration shift of
# its logits chosen on training faces; the release files are written again (points bit-identical)
T1="env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/pipnet106"
$T1 train --config configs/starter_visibility.yaml --data "$DATA/prep/mix2" --out "$DATA/runs/vis1" --init starter
$T1 train --config configs/starter_visibility.yaml --data "$DATA/prep/mix2" --out "$DATA/runs/vis2" \
    --init "$DATA/runs/vis1/last.pt" --set lr=0.01 --set epochs=6 --set "decay_epochs=[4,10]" --set warmup_steps=0
OMP_NUM_THREADS=2 $PY tools/calibrate_visibility.py --weights "$DATA/runs/vis2/last.pt" --data "$DATA/prep/mix2" \
    --faces 300 --false-rate 0.025 --out "$DATA/runs/vis2/calibrated.pt"
.venv/bin/pipnet106 export --weights "$DATA/runs/vis2/calibrated.pt" --out src/pipnet106/assets/starter.pt --fp16-weights
.venv/bin/pipnet106 export --weights src/pipnet106/assets/starter.pt --out src/pipnet106/assets/starter.onnx --fp16-weights
.venv/bin/pipnet106 export --weights src/pipnet106/assets/starter.pt --out src/pipnet106/assets/starter_int8.onnx \
    --int8 --calib "$DATA/prep/mix" --calib-count 300
OMP_NUM_THREADS=2 $PY benchmarks/visibility.py starter=src/pipnet106/assets/starter.onnx --pools "$DATA/prep"
