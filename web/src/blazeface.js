// BlazeFace full-range (MediaPipe's SSD face detector, shipped by the package as ONNX): the
// pre- and post-processing of src/pipnet106/detect/blazeface.py and detect/base.py, ported step by
// step so the boxes match the Python detector's: letterbox, detection pyramid (scale_plan), anchor
// decoding, weighted NMS, nested-box removal, clipping.
//
// The network itself is a function `net(Float32Array (1, 3, S, S)) -> Promise<{reg, scores}>`
// (onnxruntime-web in the page, see models.js).

import { CropTransform, letterboxTransform, padReplicate, resizeArea, resizeLinear, roundEven, subImage } from './crop.js';

export const SPEC = { file: 'blazeface_full.onnx', size: 192, strides: [4], anchorsPerLayer: 1, scoreThreshold: 0.5, minFace: 24.0 };
export const PROPOSAL_SCORE = 0.2;        // detect.PROPOSAL_SCORE: Landmarker asks for proposals down to this
export const CONFIRM_CONF = 0.45;         // BlazeFaceDetector.CONFIRM_CONF
export const LANDMARK_BOX = [0.0024, 0.0932, 0.9087, 0.8821];  // BlazeFaceDetector.landmark_box
const FACE_INPUT_PX = 15.0, ZOOM_OUT_FILL = 0.5, LEVEL_RATIO = 3.0, MIN_FACE_SHARE = 0.02, FIT_SLACK = 0.05;
const NMS_IOU = 0.3, MAX_WINDOWS = 400, OVERLAP = 0.25;

export function anchorCentres(size, strides, perLayer) {
  const out = [];
  let i = 0;
  while (i < strides.length) {
    let j = i;
    while (j < strides.length && strides[j] === strides[i]) j++;
    const fm = Math.ceil(size / strides[i]);
    for (let y = 0; y < fm; y++) {
      for (let x = 0; x < fm; x++) {
        for (let k = 0; k < (j - i) * perLayer; k++) out.push((x + 0.5) / fm, (y + 0.5) / fm);
      }
    }
    i = j;
  }
  return Float64Array.from(out);
}

/** Raw outputs -> [{box (input px), kps (6x2 input px), score}] for scores >= threshold. */
export function decode(reg, logits, anchors, size, threshold) {
  const out = [];
  for (let i = 0; i < logits.length; i++) {
    const score = 1.0 / (1.0 + Math.exp(-Math.min(Math.max(logits[i], -100), 100)));
    if (!(score >= threshold)) continue;
    const r = i * 16, ax = anchors[2 * i], ay = anchors[2 * i + 1];
    const cx = reg[r] / size + ax, cy = reg[r + 1] / size + ay, w = reg[r + 2] / size, h = reg[r + 3] / size;
    const box = [(cx - w / 2) * size, (cy - h / 2) * size, (cx + w / 2) * size, (cy + h / 2) * size];
    const kps = new Float64Array(12);
    for (let k = 0; k < 6; k++) {
      kps[2 * k] = (reg[r + 4 + 2 * k] / size + ax) * size;
      kps[2 * k + 1] = (reg[r + 5 + 2 * k] / size + ay) * size;
    }
    out.push({ box, kps, score });
  }
  return out;
}

/** BGR uint8 (S, S, 3) -> float32 (1, 3, S, S) RGB in [-1, 1], rounded as numpy rounds it. */
export function toInput(canvas, size) {
  const n = size * size, x = new Float32Array(3 * n), c = Math.fround(1.0 / 127.5);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) x[ch * n + i] = Math.fround(Math.fround(canvas[i * 3 + 2 - ch] * c) - 1.0);
  }
  return x;
}

export function boxIou(a, b) {
  const iw = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0);
  const ih = Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const inter = iw * ih;
  const area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return inter / Math.max(area, 1e-12);
}

/** Intersection over the smaller box's area (detect.box_containment). */
export function boxContainment(a, b) {
  const ix = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0);
  const iy = Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const aa = Math.max((a[2] - a[0]) * (a[3] - a[1]), 0), ab = Math.max((b[2] - b[0]) * (b[3] - b[1]), 0);
  return ix * iy / Math.max(Math.min(aa, ab), 1e-12);
}

/** Weighted NMS (detect.nms): each kept face is the score-weighted mean of the boxes it suppresses. */
export function nms(dets, iou = NMS_IOU) {
  const order = dets.map((_, i) => i).sort((i, j) => dets[j].score - dets[i].score || i - j);
  const ds = order.map((i) => dets[i]);
  const alive = ds.map(() => true), kept = [];
  for (let i = 0; i < ds.length; i++) {
    if (!alive[i]) continue;
    const group = [];
    for (let j = 0; j < ds.length; j++) if (j === i || (alive[j] && boxIou(ds[i].box, ds[j].box) > iou)) group.push(j);
    for (const j of group) alive[j] = false;
    if (group.length === 1) { kept.push(ds[i]); continue; }
    let total = 0;
    for (const j of group) total += ds[j].score;
    const box = [0, 0, 0, 0], kps = new Float64Array(12);
    for (const j of group) {
      const w = ds[j].score / total;
      for (let q = 0; q < 4; q++) box[q] += ds[j].box[q] * w;
      for (let q = 0; q < 12; q++) kps[q] += ds[j].kps[q] * w;
    }
    kept.push({ box, kps, score: ds[i].score });
  }
  return kept;
}

/** Drop detections lying mostly inside one at least 2.5 times their size (blazeface.drop_nested). */
export function dropNested(dets, inside = 0.6, ratio = 2.5) {
  if (dets.length < 2) return dets;
  const side = dets.map((d) => Math.sqrt(Math.max((d.box[2] - d.box[0]) * (d.box[3] - d.box[1]), 0)));
  return dets.filter((d, i) => !dets.some((e, j) => side[j] >= ratio * side[i] && boxContainment(d.box, e.box) > inside));
}

/** Clip to the image, drop empty boxes and low scores, best first (detect.finish). */
export function finish(dets, width, height, minScore = 0) {
  const out = [];
  for (const d of dets) {
    if (d.score < minScore || !d.box.every(Number.isFinite)) continue;
    const b = [Math.min(Math.max(d.box[0], 0), width), Math.min(Math.max(d.box[1], 0), height),
      Math.min(Math.max(d.box[2], 0), width), Math.min(Math.max(d.box[3], 0), height)];
    if (b[2] - b[0] < 1 || b[3] - b[1] < 1) continue;
    out.push({ box: b, kps: d.kps, score: d.score });
  }
  return out.map((d, i) => [d, i]).sort((a, b) => b[0].score - a[0].score || a[1] - b[1]).map((p) => p[0]);
}

export function autoMinFace(width, height, floor = SPEC.minFace) {
  return floor ? Math.max(floor, MIN_FACE_SHARE * Math.sqrt(width * height)) : 0.0;
}

function windowsAlong(n, tile, overlap) {
  return n <= tile ? 1 : Math.ceil((n - tile) / (tile * (1.0 - overlap))) + 1;
}

export function tileGrid(width, height, tile, overlap = OVERLAP) {
  const starts = (n) => {
    const count = windowsAlong(n, tile, overlap);
    return count === 1 ? [0] : Array.from({ length: count }, (_, i) => roundEven(i * (n - tile) / (count - 1)));
  };
  const out = [];
  for (const y of starts(height)) for (const x of starts(width)) out.push([x, y, Math.min(x + tile, width), Math.min(y + tile, height)]);
  return out;
}

function fittedTile(width, height, tile, overlap) {
  const count = (t) => windowsAlong(width, t, overlap) * windowsAlong(height, t, overlap);
  let best = tile, fewest = count(tile);
  for (let t = tile + 1; t <= Math.floor(tile * (1.0 + FIT_SLACK)); t++) {
    if (count(t) < fewest) { best = t; fewest = count(t); }
  }
  return best;
}

/** Pyramid levels, finest first (blazeface.scale_plan): {scale, windows, fill}. */
export function scalePlan(width, height, size, minFaceSize, overlap = OVERLAP, maxWindows = MAX_WINDOWS) {
  const whole = size / Math.max(width, height);
  const levels = [{ scale: whole, windows: [], fill: 1.0 }, { scale: whole * ZOOM_OUT_FILL, windows: [], fill: ZOOM_OUT_FILL }];
  const target = FACE_INPUT_PX / Math.max(minFaceSize, 1.0);
  if (target <= whole * 1.15) return levels;
  const scales = [];
  for (let s = target; s > whole * 1.15; s /= LEVEL_RATIO) scales.push(s);
  for (const s of scales.reverse()) {
    let tile = fittedTile(width, height, Math.max(Math.ceil(size / s), 1), overlap);
    let wins = tileGrid(width, height, tile, overlap);
    while (wins.length > maxWindows) {
      tile = Math.floor(tile * 1.2) + 1;
      wins = tileGrid(width, height, tile, overlap);
    }
    levels.unshift({ scale: size / tile, windows: wins, fill: 1.0 });
  }
  return levels;
}

/** Square `size` input with the whole image centred (blazeface.letterbox), and its transform. */
export function letterbox(img, size, fill = 1.0) {
  const { width: w, height: h } = img;
  let t = letterboxTransform(w, h, size);
  if (fill !== 1.0) {
    const sc = t.scale * fill;
    t = new CropTransform(sc, (size - w * sc) / 2.0, (size - h * sc) / 2.0, size);
  }
  const k = t.scale < 0.5 ? Math.trunc(1.0 / (2.0 * t.scale)) : 1;
  if (k > 1) {
    const ph = ((-h % k) + k) % k, pw = ((-w % k) + k) % k;
    const small = resizeArea(padReplicate(img, w + pw, h + ph), (w + pw) / k, (h + ph) / k);
    return { canvas: new CropTransform(t.scale * k, t.offsetX, t.offsetY, size).apply(small), t };
  }
  return { canvas: t.apply(img), t };
}

/** The size the image is resized to for `scale` (blazeface._shrink), and the exact scale that is. */
function shrinkSize(w, h, scale) {
  if (Math.abs(scale - 1.0) < 1e-6) return { nw: w, nh: h, s: 1.0 };
  const nw = Math.max(1, roundEven(w * scale)), s = nw / w;
  return { nw, nh: Math.max(1, roundEven(h * s)), s };
}

/** The image resized by about `scale` (area filter when shrinking), or the part `rect` of it. */
function shrink(img, nw, nh, rect = null) {
  if (nw === img.width && nh === img.height) return rect ? subImage(img, ...rect) : img;
  if (nw < img.width) return resizeArea(img, nw, nh, rect);
  const big = resizeLinear(img, nw, nh);
  return rect ? subImage(big, ...rect) : big;
}

/** The image halved n times by exact 2x2 means (blazeface._halve). */
function halve(img, n) {
  for (let i = 0; i < n; i++) {
    const p = padReplicate(img, img.width + (img.width % 2), img.height + (img.height % 2));
    img = resizeArea(p, p.width / 2, p.height / 2);
  }
  return img;
}

function cutByWindow(box, win, width, height) {
  const [x0, y0, x1, y1] = win, m = 0.02 * Math.max(x1 - x0, y1 - y0);
  return (x0 > 0 && box[0] < x0 + m) || (y0 > 0 && box[1] < y0 + m) || (x1 < width && box[2] > x1 - m) || (y1 < height && box[3] > y1 - m);
}

function fillsPhoto(box, width, height) {
  const [x0, y0, x1, y1] = box;
  const area = Math.max(x1 - x0, 1e-6) * Math.max(y1 - y0, 1e-6);
  const inside = Math.max(Math.min(x1, width) - Math.max(x0, 0), 0) * Math.max(Math.min(y1, height) - Math.max(y0, 0), 0);
  return inside >= 0.7 * area && Math.sqrt(area) >= 0.25 * Math.max(width, height);
}

export class BlazeFace {
  /** `net`: async (Float32Array input) -> {reg, scores}; minFaceSize: 'auto' or pixels. */
  constructor(net, { minFaceSize = 'auto', minScore = PROPOSAL_SCORE } = {}) {
    this.net = net;
    this.spec = SPEC;
    this.anchors = anchorCentres(SPEC.size, SPEC.strides, SPEC.anchorsPerLayer);
    this.auto = minFaceSize === 'auto' || minFaceSize == null;
    this.minFaceSize = this.auto ? SPEC.minFace : Math.max(Number(minFaceSize), 4.0);
    this.minScore = minScore;
    this.confirm = minScore < SPEC.scoreThreshold ? [SPEC.scoreThreshold, CONFIRM_CONF] : null;
    this.landmarkBox = LANDMARK_BOX;
    this.runs = 0;  // network runs so far (for the page's figures)
    this.netMs = 0;
  }

  minFaceFor(width, height) { return this.auto ? autoMinFace(width, height, this.minFaceSize) : this.minFaceSize; }

  plan(width, height) {
    const smallest = this.minFaceFor(width, height);
    return smallest ? scalePlan(width, height, SPEC.size, smallest) : [{ scale: SPEC.size / Math.max(width, height), windows: [], fill: 1.0 }];
  }

  halvings(width, height) {
    const smallest = this.minFaceFor(width, height);
    if (!smallest) return 0;
    const finest = Math.max(FACE_INPUT_PX / smallest, SPEC.size / Math.max(width, height));
    return Math.max(0, Math.floor(Math.log2(1.0 / finest) + 1e-9));
  }

  async run(canvas, t, shiftX, shiftY) {
    this.runs++;
    const t0 = performance.now();
    const { reg, scores } = await this.net(toInput(canvas, SPEC.size));
    this.netMs += performance.now() - t0;
    return decode(reg, scores, this.anchors, SPEC.size, this.minScore).map((d) => {
      const box = [(d.box[0] - t.offsetX) / t.scale + shiftX, (d.box[1] - t.offsetY) / t.scale + shiftY,
        (d.box[2] - t.offsetX) / t.scale + shiftX, (d.box[3] - t.offsetY) / t.scale + shiftY];
      const kps = new Float64Array(12);
      for (let k = 0; k < 12; k += 2) {
        kps[k] = (d.kps[k] - t.offsetX) / t.scale + shiftX;
        kps[k + 1] = (d.kps[k + 1] - t.offsetY) / t.scale + shiftY;
      }
      return { box, kps, score: d.score };
    });
  }

  /** Raw detections of one pyramid level (`only`: indices of the windows to run; null = all). */
  async detectLevel(img, level, only = null) {
    const size = SPEC.size, { width: w, height: h } = img;
    if (!level.windows.length) {
      const { canvas, t } = letterbox(img, size, level.fill);
      const dets = await this.run(canvas, t, 0, 0);
      return level.fill === 1.0 ? dets : dets.filter((d) => fillsPhoto(d.box, w, h));
    }
    const { nw, nh, s } = shrinkSize(w, h, level.scale);
    // a tracker's scan runs one window at a time: then only that window's part is shrunk
    const whole = !only || only.length > level.windows.length / 2 ? shrink(img, nw, nh) : null;
    const t = new CropTransform(s, 0.0, 0.0, size), out = [];
    for (let k = 0; k < level.windows.length; k++) {
      if (only && !only.includes(k)) continue;
      const win = level.windows[k];
      const x0 = roundEven(win[0] * s), y0 = roundEven(win[1] * s);
      const canvas = new Uint8Array(size * size * 3);
      const pw = Math.max(0, Math.min(size, nw - x0)), ph = Math.max(0, Math.min(size, nh - y0));
      const part = whole || (pw && ph ? shrink(img, nw, nh, [x0, y0, pw, ph]) : null);
      const [px, py, stride] = whole ? [x0, y0, nw] : [0, 0, pw];
      for (let r = 0; r < ph; r++) {
        const src = ((py + r) * stride + px) * 3;
        canvas.set(part.data.subarray(src, src + pw * 3), r * size * 3);
      }
      for (const d of await this.run(canvas, t, x0 / s, y0 / s)) if (!cutByWindow(d.box, win, w, h)) out.push(d);
    }
    return out;
  }

  /** Every network run of a full detection as [level index, window index or -1] (blazeface.jobs). */
  jobs(width, height) {
    const out = [];
    this.plan(width, height).forEach((lv, i) => {
      if (lv.windows.length) lv.windows.forEach((_, k) => out.push([i, k]));
      else out.push([i, -1]);
    });
    return out;
  }

  /** Merged, filtered detections of some of `jobs` (all of them = detect). */
  async detectJobs(img, jobs) {
    const plan = this.plan(img.width, img.height);
    let dets = [];
    for (const i of [...new Set(jobs.map((j) => j[0]))].sort((a, b) => a - b)) {
      const wins = jobs.filter((j) => j[0] === i).map((j) => j[1]);
      dets = dets.concat(await this.detectLevel(img, plan[i], wins.includes(-1) ? null : wins));
    }
    return finish(dropNested(nms(dets)), img.width, img.height, this.minScore);
  }

  /** All faces of an image, best score first (BlazeFaceDetector.__call__). */
  async detect(img) {
    const { width: w, height: h } = img;
    const n = this.halvings(w, h);
    let small = img, plan;
    if (n) {
      small = halve(img, n);
      plan = scalePlan(small.width, small.height, SPEC.size, this.minFaceFor(w, h) / 2 ** n);
    } else {
      plan = this.plan(w, h);
    }
    let dets = [];
    for (const level of plan) dets = dets.concat(await this.detectLevel(small, level));
    if (n) {
      const k = 2 ** n;
      dets = dets.map((d) => ({ box: d.box.map((v) => v * k), kps: d.kps.map((v) => v * k), score: d.score }));
    }
    return finish(dropNested(nms(dets)), w, h, this.minScore);
  }

  /** Detections in a region of the image (a tracker's re-detection window), in image pixels. */
  async detectIn(img, x0, y0, x1, y1) {
    const dets = finish(await this.detect(subImage(img, x0, y0, x1 - x0, y1 - y0)), x1 - x0, y1 - y0);
    return dets.map((d) => ({ ...d, box: [d.box[0] + x0, d.box[1] + y0, d.box[2] + x0, d.box[3] + y0] }));
  }
}
