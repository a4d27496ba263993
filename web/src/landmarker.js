// Top-down landmarks for a photo, as the Python `Landmarker.predict` does them
// (src/pipnet106/predict.py): detect -> first pass from each detector box moved by the detector's
// `landmark_box` calibration -> drop hopeless proposals -> one refinement pass re-cropped from the
// points with the training crop rule -> confirm proposals -> one detection per face.
//
// The landmark network is `net(Uint8Array (B, S, S, 3) BGR, B) -> Promise<{points, conf}>` with
// points normalized to the crop (B, N, 2) and confidences (B, N), as the exported ONNX file gives.

import { boxTransform, cropFromPoints, pointsBox, squareBox } from './crop.js';
import { boxContainment, boxIou } from './blazeface.js';

export const PROPOSAL_FIRST_PASS_CONF = 0.28;
export const SAME_FACE_SHARE = 0.6;
export const NUM_POINTS = 106;
export const OUTER_EYES = [66, 79];   // lapa106's normalization pair (outer eye corners)

export function mean(a) { let s = 0; for (const v of a) s += v; return a.length ? s / a.length : 0; }

/** predict.calibrated_box: where a detector's box puts the landmark box. */
export function calibratedBox(box, cal) {
  if (!cal) return box.slice();
  const [dx, dy, sw, sh] = cal, w = box[2] - box[0], h = box[3] - box[1];
  const cx = (box[0] + box[2]) / 2 + dx * w, cy = (box[1] + box[3]) / 2 + dy * h;
  return [cx - sw * w / 2, cy - sh * h / 2, cx + sw * w / 2, cy + sh * h / 2];
}

/** Distance between the outer eye corners (the layout's default normalization). */
export function eyeDistance(p) {
  const [a, b] = OUTER_EYES;
  return Math.hypot(p[2 * a] - p[2 * b], p[2 * a + 1] - p[2 * b + 1]);
}

/** sqrt(w * h) of the landmark box (layout.norm_distance 'bbox'). */
export function bboxSize(p) {
  const b = pointsBox(p);
  return Math.sqrt(Math.max((b[2] - b[0]) * (b[3] - b[1]), 0));
}

export class Landmarker {
  /** meta: the ONNX file's metadata (input_size, crop_enlarge); detector: a BlazeFace. */
  constructor(net, meta, detector, { refine = 1, maxFaces = 0, minFaceSize = 0 } = {}) {
    this.net = net;
    this.size = Number(meta.input_size);
    this.enlarge = Number(meta.crop_enlarge);
    this.numPoints = Number(meta.num_points || NUM_POINTS);
    this.detector = detector;
    this.refine = refine; this.maxFaces = maxFaces; this.minFaceSize = minFaceSize;
    this.runs = 0;
    this.cropMs = 0; this.netMs = 0;  // where the time goes (the page's figures)
  }

  cropForBox(box, cal) { return boxTransform(squareBox(calibratedBox(box, cal), this.enlarge), this.size); }

  /** Points (source pixels, Float64Array(2N) each) and confidences of the faces in these crops, one batch. */
  async landmarksInCrops(img, transforms) {
    if (!transforms.length) return { pts: [], conf: [] };
    const S = this.size, n = this.numPoints, batch = new Uint8Array(transforms.length * S * S * 3);
    const t0 = performance.now();
    transforms.forEach((t, i) => batch.set(t.apply(img), i * S * S * 3));
    const t1 = performance.now();
    this.runs++;
    const { points, conf } = await this.net(batch, transforms.length);
    this.cropMs += t1 - t0; this.netMs += performance.now() - t1;
    const pts = [], cf = [];
    transforms.forEach((t, i) => {
      const p = new Float64Array(2 * n);
      for (let k = 0; k < 2 * n; k++) p[k] = points[i * 2 * n + k] * S;  // float32 * S: exact
      pts.push(t.toSource(p));
      cf.push(conf.slice(i * n, (i + 1) * n));
    });
    return { pts, conf: cf };
  }

  /** Boxes and scores after the size/count filters, largest faces first (Landmarker._filter). */
  filter(dets) {
    const side = (d) => Math.min(d.box[2] - d.box[0], d.box[3] - d.box[1]);
    let out = dets.filter((d) => side(d) >= this.minFaceSize).map((d, i) => [d, i]);
    out.sort((a, b) => side(b[0]) - side(a[0]) || a[1] - b[1]);
    out = out.map((p) => p[0]);
    return this.maxFaces ? out.slice(0, this.maxFaces) : out;
  }

  confirmed(score, conf) {
    const rule = this.detector.confirm;
    return !rule || score >= rule[0] || mean(conf) >= rule[1];
  }

  /** `refine` passes over faces, each re-cropped from its previous points (Landmarker._refine). */
  async refinePasses(img, pts, conf, refine = this.refine) {
    for (let r = 0; r < refine && pts.length; r++) {
      const res = await this.landmarksInCrops(img, pts.map((p) => cropFromPoints(p, this.size, this.enlarge)));
      pts = res.pts; conf = res.conf;
    }
    return { pts, conf };
  }

  /** Landmarks for detector boxes: first pass from the calibrated boxes, then the refinement. */
  async landmarksForBoxes(img, boxes, cal) {
    const first = await this.landmarksInCrops(img, boxes.map((b) => this.cropForBox(b, cal)));
    return this.refinePasses(img, first.pts, first.conf);
  }

  /** All faces of one image: [{box, score, points, conf, expectedBox}] (Landmarker.predict). */
  async predict(img) {
    const dets = this.filter(await this.detector.detect(img));
    const cal = this.detector.landmarkBox;
    const first = await this.landmarksInCrops(img, dets.map((d) => this.cropForBox(d.box, cal)));
    const rule = this.detector.confirm, keep = [];
    dets.forEach((d, i) => {  // hopeless proposals get no refinement pass
      if (!(rule && d.score < rule[0] && mean(first.conf[i]) < PROPOSAL_FIRST_PASS_CONF)) keep.push(i);
    });
    const { pts, conf } = await this.refinePasses(img, keep.map((i) => first.pts[i]), keep.map((i) => first.conf[i]));
    const faces = [];
    keep.forEach((i, j) => {
      if (!this.confirmed(dets[i].score, conf[j])) return;
      faces.push({ box: dets[i].box, score: dets[i].score, points: pts[j], conf: conf[j], expectedBox: calibratedBox(dets[i].box, cal) });
    });
    return onePerFace(faces);
  }
}

/** IoU of the points' box with the box the detector's calibration expects (Face.box_agreement). */
export function boxAgreement(face) {
  return face.expectedBox ? boxIou(face.expectedBox, pointsBox(face.points)) : null;
}

/** predict.one_per_face: drop the second of two detections of one face. */
export function onePerFace(faces) {
  if (faces.length < 2) return faces;
  const key = faces.map((f) => [-(boxAgreement(f) || 0), -mean(f.conf)]);
  const rank = faces.map((_, i) => i).sort((i, j) => key[i][0] - key[j][0] || key[i][1] - key[j][1] || i - j);
  const marks = faces.map((f) => pointsBox(f.points));
  const kept = [];
  for (const i of rank) {
    if (kept.some((k) => Math.max(boxContainment(faces[i].box, faces[k].box), boxContainment(marks[i], marks[k])) >= SAME_FACE_SHARE)) continue;
    kept.push(i);
  }
  return kept.sort((a, b) => a - b).map((i) => faces[i]);
}
