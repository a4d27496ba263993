// Landmarks that follow faces on a camera, as src/pipnet106/video.py's Tracker does: each face is
// cropped from its previous points (the training crop rule) and predicted once per frame; a track
// whose points drift (low confidence, eye distance jumping, points piling up at the crop's edge) is
// re-detected at once in a window around it; new faces are looked for continuously, the detector's
// network runs spread over `scanFrames` frames; the reported points go through a One-Euro filter in
// units of the face size.

import { boxTransform, pointsBox, squareBox } from './crop.js';
import { boxIou } from './blazeface.js';
import { bboxSize, eyeDistance, mean } from './landmarker.js';

export class OneEuroFilter {
  constructor(minCutoff = 1.0, beta = 20.0, dCutoff = 1.0) {
    this.minCutoff = minCutoff; this.beta = beta; this.dCutoff = dCutoff;
    this.x = null; this.dx = null; this.t = null;
  }

  static alpha(cutoff, dt) { return 1.0 / (1.0 + 1.0 / (2 * Math.PI * cutoff) / dt); }

  filter(x, t) {
    if (this.x === null || t <= this.t) {
      this.x = Float64Array.from(x); this.dx = new Float64Array(x.length); this.t = t;
      return Float64Array.from(x);
    }
    const dt = t - this.t, aD = OneEuroFilter.alpha(this.dCutoff, dt);
    for (let i = 0; i < x.length; i++) {
      this.dx[i] = aD * ((x[i] - this.x[i]) / dt) + (1 - aD) * this.dx[i];
      const a = OneEuroFilter.alpha(this.minCutoff + this.beta * Math.abs(this.dx[i]), dt);
      this.x[i] = a * x[i] + (1 - a) * this.x[i];
    }
    this.t = t;
    return Float64Array.from(this.x);
  }
}

export const DRIFT = { conf: 0.4, iodChange: 0.25, edge: 0.04, edgeShare: 0.1 };

export class Tracker {
  constructor(landmarker, { smooth = true, minCutoff = 0.1, beta = 20.0, dCutoff = 1.0, minConf = 0.25, scanFrames = 10 } = {}) {
    this.lm = landmarker;
    this.smooth = smooth;
    this.filterArgs = [minCutoff, beta, dCutoff];
    this.minConf = minConf; this.scanFrames = scanFrames;
    this.tracks = []; this.frameIndex = 0; this.nextId = 0; this.scanPos = 0;
    this.detectorRuns = 0; this.redetections = 0;
  }

  restart(tr, points, conf) {
    tr.raw = points; tr.conf = conf; tr.box = pointsBox(points); tr.score = mean(conf); tr.iod = eyeDistance(points);
  }

  drifts(oldIod, tr, inCrop) {
    if (tr.score < DRIFT.conf || !tr.raw.every(Number.isFinite)) return true;
    if (oldIod > 0 && Math.abs(tr.iod / oldIod - 1.0) > DRIFT.iodChange) return true;
    let near = 0;
    for (let i = 0; i < inCrop.length; i += 2) {
      const e = (v) => v < DRIFT.edge || v > 1.0 - DRIFT.edge;
      if (e(inCrop[i]) || e(inCrop[i + 1])) near++;
    }
    return near / (inCrop.length / 2) > DRIFT.edgeShare;
  }

  /** Crop every track from its last points, predict once; returns the drifting tracks. */
  async follow(img) {
    if (!this.tracks.length) return [];
    const S = this.lm.size, crops = this.tracks.map((tr) => boxTransform(squareBox(tr.box, this.lm.enlarge), S));
    const { pts, conf } = await this.lm.landmarksInCrops(img, crops);
    const drifting = [];
    this.tracks.forEach((tr, i) => {
      const oldIod = tr.iod;
      tr.raw = pts[i]; tr.conf = conf[i]; tr.score = mean(conf[i]); tr.iod = eyeDistance(pts[i]);
      const inCrop = crops[i].toCrop(pts[i]).map((v) => v / S);
      if (this.drifts(oldIod, tr, inCrop)) drifting.push(tr); else tr.box = pointsBox(pts[i]);
      tr.age++;
    });
    return drifting;
  }

  /** Look for a drifting track's face in a window around its last good place; restart it there. */
  async redetect(img, tr) {
    const det = this.lm.detector, { width: w, height: h } = img;
    const [x0, y0, x1, y1] = tr.box, side = Math.max(x1 - x0, y1 - y0);
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const wx0 = Math.trunc(Math.max(0, cx - 2.5 * side)), wy0 = Math.trunc(Math.max(0, cy - 2.5 * side));
    const wx1 = Math.trunc(Math.min(w, cx + 2.5 * side)), wy1 = Math.trunc(Math.min(h, cy + 2.5 * side));
    if (wx1 - wx0 < 8 || wy1 - wy0 < 8) return false;
    this.detectorRuns++;
    const dets = (await det.detectIn(img, wx0, wy0, wx1, wy1)).filter((d) => Math.min(d.box[2] - d.box[0], d.box[3] - d.box[1]) > side / 3);
    if (!dets.length) return false;
    const dist = (d) => Math.hypot((d.box[0] + d.box[2]) / 2 - cx, (d.box[1] + d.box[3]) / 2 - cy);
    const best = dets.reduce((a, b) => (dist(b) < dist(a) ? b : a));
    const { pts, conf } = await this.lm.landmarksForBoxes(img, [best.box], det.landmarkBox);
    if (mean(conf[0]) < this.minConf || !this.lm.confirmed(best.score, conf[0])) return false;
    this.restart(tr, pts[0], conf[0]);
    tr.filter = null; tr.age = 0; tr.redetections++; this.redetections++;
    return true;
  }

  /** This frame's share of the search for new faces (null when nothing ran). */
  async detections(img) {
    const det = this.lm.detector, first = this.frameIndex === 0 || !this.tracks.length;
    if (this.scanFrames && !first) {
      const jobs = det.jobs(img.width, img.height), k = this.scanPos % this.scanFrames;
      this.scanPos++;
      const part = jobs.filter((_, i) => Math.floor(i * this.scanFrames / jobs.length) === k);
      if (!part.length) return null;
      this.detectorRuns += part.length;
      return this.lm.filter(await det.detectJobs(img, part));
    }
    this.detectorRuns += det.jobs(img.width, img.height).length;
    return this.lm.filter(await det.detect(img));
  }

  /** Start tracks for detections that are not a face already followed. */
  async add(img, dets) {
    if (!dets.length) return;
    const tracked = this.tracks.map((t) => t.box);
    let fresh = dets.filter((d) => {
      const c = [(d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2];
      const inside = tracked.some((t) => t[0] <= c[0] && c[0] <= t[2] && t[1] <= c[1] && c[1] <= t[3]);
      return !inside && (!tracked.length || Math.max(...tracked.map((t) => boxIou(d.box, t))) < 0.3);
    });
    if (this.lm.maxFaces) fresh = fresh.slice(0, Math.max(0, this.lm.maxFaces - this.tracks.length));
    if (!fresh.length) return;
    const { pts, conf } = await this.lm.landmarksForBoxes(img, fresh.map((d) => d.box), this.lm.detector.landmarkBox);
    fresh.forEach((d, i) => {
      if (mean(conf[i]) < this.minConf || !this.lm.confirmed(d.score, conf[i])) return;
      const tr = { id: this.nextId++, filter: null, age: 0, redetections: 0, scale: 1 };
      this.restart(tr, pts[i], conf[i]);
      this.tracks.push(tr);
    });
  }

  dedupe() {
    const keep = [];
    for (const tr of [...this.tracks].sort((a, b) => a.id - b.id)) {
      if (!keep.length || Math.max(...keep.map((k) => boxIou(tr.box, k.box))) < 0.5) keep.push(tr);
    }
    this.tracks = keep;
  }

  /** Faces of this frame: [{id, box, score, points, conf}]; `t` in seconds. */
  async update(img, t = this.frameIndex / 30.0) {
    for (const tr of await this.follow(img)) if (!(await this.redetect(img, tr))) tr.score = 0.0;
    this.tracks = this.tracks.filter((tr) => tr.score >= this.minConf);
    this.dedupe();
    const found = await this.detections(img);
    if (found) await this.add(img, found);
    const faces = this.tracks.map((tr) => {
      let pts = tr.raw;
      if (this.smooth) {
        if (!tr.filter) {
          tr.filter = new OneEuroFilter(...this.filterArgs);
          tr.scale = Math.max(bboxSize(tr.raw), 1.0);
        }
        pts = tr.filter.filter(tr.raw.map((v) => v / tr.scale), t).map((v) => v * tr.scale);
      }
      return { id: tr.id, box: tr.box.slice(), score: tr.score, points: pts, conf: tr.conf };
    });
    this.frameIndex++;
    return faces;
  }
}
