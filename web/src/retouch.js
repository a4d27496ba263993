// The shape retouch of src/pipnet106/retouch (frame.py, warp.py), CPU side: each face's frame,
// its face_slim / eye_size primitives, and their fused backward displacement field on the same
// coarse grid, with the same fold-over guard and region of influence. The GPU (gl.js) then does
// what cv2.resize + cv2.remap do in Python: upsample the coarse field bilinearly and sample the
// image at x + d(x), one pass per face, each from the previous result.

import { roundEven } from './crop.js';
import { bboxSize, boxAgreement, mean } from './landmarker.js';

// LaPa/JD 106 anchors (frame.py)
const LEFT_EYE = range(66, 74), RIGHT_EYE = range(75, 83);
const LEFT_EYE_CENTRE = 74, RIGHT_EYE_CENTRE = 83, LEFT_OUTER = 66, RIGHT_OUTER = 79, LEFT_INNER = 70, RIGHT_INNER = 75;
const MOUTH_LEFT = 84, MOUTH_RIGHT = 90;
const NOSE_AXIS = [51, 52, 53, 54, 60];
const CONF_LO = 0.50, CONF_HI = 0.58;
// warp.py
const IDLE_SHIFT = 1.0 / 64, MIN_DET = 0.2, SAMPLES_PER_SCALE = 24;
const SLIM_PULL = 0.13, EYE_SCALE = 0.30, EYE_RADIUS = 1.15;
// pose.DEFAULT_RULE, without the pose limits (the page solves no head pose)
const RULE = { minConf: 0.5, minSize: 20.0, minBoxAgreement: 0.45 };

function range(a, b) { return Array.from({ length: b - a }, (_, i) => a + i); }
const round = (v, d) => Math.round(v * 10 ** d) / 10 ** d;

function ramp(x, lo, hi) {
  const t = Math.min(1.0, Math.max(0.0, (x - lo) / (hi - lo)));
  return t * t * (3 - 2 * t);
}

/** Whether an app may trust a face's points: pose.reliability without the head-pose limits. */
export function reliable(face) {
  const size = bboxSize(face.points), agreement = boxAgreement(face);
  return round(mean(face.conf), 2) >= RULE.minConf && round(size, 1) >= RULE.minSize
    && (agreement === null || round(agreement, 2) >= RULE.minBoxAgreement);
}

/** frame.face_frame: origin between the eye centres, u along the eye line, v toward the chin, scale
 *  (outer-eye distance or 1.35 x eye-mouth distance), weight (confidence fade; 0 when unreliable). */
export function faceFrame(face) {
  const p = face.points, at = (i) => [p[2 * i], p[2 * i + 1]];
  const le = at(LEFT_EYE_CENTRE), re = at(RIGHT_EYE_CENTRE);
  const origin = [(le[0] + re[0]) / 2, (le[1] + re[1]) / 2];
  const d = [re[0] - le[0], re[1] - le[1]], n = Math.hypot(d[0], d[1]);
  if (n < 1e-6) return null;
  const u = [d[0] / n, d[1] / n], v = [-u[1], u[0]];
  const outer = Math.hypot(p[2 * RIGHT_OUTER] - p[2 * LEFT_OUTER], p[2 * RIGHT_OUTER + 1] - p[2 * LEFT_OUTER + 1]);
  const mouth = [(p[2 * MOUTH_LEFT] + p[2 * MOUTH_RIGHT]) / 2, (p[2 * MOUTH_LEFT + 1] + p[2 * MOUTH_RIGHT + 1]) / 2];
  const scale = Math.max(outer, 1.35 * Math.hypot(mouth[0] - origin[0], mouth[1] - origin[1]), 1.0);
  let weight = face.weight ?? ramp(mean(face.conf), CONF_LO, CONF_HI);
  if (weight > 0 && !reliable(face)) weight = 0;
  return { origin, u, v, scale, weight };
}

function local(frame, x, y) {
  const dx = x - frame.origin[0], dy = y - frame.origin[1];
  return [dx * frame.u[0] + dy * frame.u[1], dx * frame.v[0] + dy * frame.v[1]];
}

const falloff = (s2) => (s2 < 1.0 ? (1.0 - s2) ** 2 : 0.0);

function median(a) {
  const s = [...a].sort((x, y) => x - y), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** warp._contour_moves: overlapping moves along the contour, normalized so it moves by `moves`. */
function contourMoves(L, idx, moves, radius) {
  const sums = idx.map((i) => idx.reduce((s, j) => s + falloff(((L[i][0] - L[j][0]) ** 2 + (L[i][1] - L[j][1]) ** 2) / radius ** 2), 0));
  const overlap = median(sums), out = [];
  idx.forEach((i, k) => {
    const m = moves[k];
    if (Math.abs(m[0]) + Math.abs(m[1]) > 1e-9) out.push({ kind: 'move', centre: L[i], radii: [radius, radius], vec: [m[0] / overlap, m[1] / overlap] });
  });
  return out;
}

/** warp.shape_primitives for face_slim and eye_size (values already faded by the frame's weight). */
export function shapePrimitives(points, frame, { faceSlim = 0, eyeSize = 0 }) {
  const L = [];
  for (let i = 0; i < points.length / 2; i++) L.push(local(frame, points[2 * i], points[2 * i + 1]));
  const s = frame.scale, w = frame.weight, prims = [];
  const aAxis = mean(NOSE_AXIS.map((i) => L[i][0]));
  let v = faceSlim * w;
  if (v) {
    const idx = range(2, 31);  // CONTOUR[2:31]
    const moves = idx.map((i) => [-v * SLIM_PULL * (L[i][0] - aAxis) * ramp(L[i][1], 0.05 * s, 0.45 * s), 0]);
    prims.push(...contourMoves(L, idx, moves, 0.4 * s));
  }
  v = eyeSize * w;
  if (v) {
    for (const [ring, outer, inner] of [[LEFT_EYE, LEFT_OUTER, LEFT_INNER], [RIGHT_EYE, RIGHT_OUTER, RIGHT_INNER]]) {
      const c = [mean(ring.map((i) => L[i][0])), mean(ring.map((i) => L[i][1]))];
      const ew = Math.max(Math.hypot(L[outer][0] - L[inner][0], L[outer][1] - L[inner][1]), 0.15 * s);
      const k = v * EYE_SCALE;
      prims.push({ kind: 'scale', centre: c, radii: [EYE_RADIUS * ew, EYE_RADIUS * ew], vec: [k, k] });
    }
  }
  return prims;
}

/** Adds each primitive's backward displacement (in the face frame) at the grid samples it can reach
 *  (warp._evaluate; `A`, `B`: local coordinates of the samples, `boxes`: each primitive's grid range). */
function evaluate(prims, A, B, boxes, cols, dA, dB) {
  prims.forEach((p, n) => {
    const [r0, r1, c0, c1] = boxes[n], [ca, cb] = p.centre, [ra, rb] = p.radii;
    const move = p.kind === 'move', ka = p.vec[0] / (1.0 + p.vec[0]), kb = p.vec[1] / (1.0 + p.vec[1]);
    for (let i = r0; i < r1; i++) {
      for (let j = c0; j < c1; j++) {
        const q = i * cols + j, xa = A[q] - ca, xb = B[q] - cb;
        const s2 = (xa / ra) ** 2 + (xb / rb) ** 2;
        if (s2 >= 1.0) continue;
        const f = (1.0 - s2) ** 2;
        if (move) { dA[q] -= p.vec[0] * f; dB[q] -= p.vec[1] * f; } else { dA[q] -= xa * ka * f; dB[q] -= xb * kb * f; }
      }
    }
  });
}

/** Exact minimum of det(I + grad d) of the bilinear upsample of a coarse field (warp.cell_jacobian_min). */
export function cellJacobianMin(d, rows, cols, step, t = 1.0) {
  if (rows < 2 || cols < 2) return 1.0;
  let worst = Infinity;
  const k = t / step;
  for (let i = 0; i < rows - 1; i++) {
    for (let j = 0; j < cols - 1; j++) {
      for (let r = 0; r < 2; r++) {
        const a = ((i + r) * cols + j) * 2;
        const ax0 = (d[a + 2] - d[a]) * k, ax1 = (d[a + 3] - d[a + 1]) * k;   // d/dx along the cell's row
        for (let c = 0; c < 2; c++) {
          const b = (i * cols + j + c) * 2, e = b + cols * 2;
          const ay0 = (d[e] - d[b]) * k, ay1 = (d[e + 1] - d[b + 1]) * k;      // d/dy along its column
          const det = (1 + ax0) * (1 + ay1) - ay0 * ax1;
          if (det < worst) worst = det;
        }
      }
    }
  }
  return worst;
}

function safeFactor(d, rows, cols, step) {
  if (cellJacobianMin(d, rows, cols, step) >= MIN_DET) return 1.0;
  let lo = 0.0, hi = 1.0;
  for (let k = 0; k < 12; k++) {
    const mid = (lo + hi) / 2;
    if (cellJacobianMin(d, rows, cols, step, mid) >= MIN_DET) lo = mid; else hi = mid;
  }
  return lo;
}

function ellipseBox(p, frame) {
  const { u, v } = frame;
  const cx = frame.origin[0] + p.centre[0] * u[0] + p.centre[1] * v[0];
  const cy = frame.origin[1] + p.centre[0] * u[1] + p.centre[1] * v[1];
  const hx = Math.hypot(p.radii[0] * u[0], p.radii[1] * v[0]), hy = Math.hypot(p.radii[0] * u[1], p.radii[1] * v[1]);
  return [cx - hx, cy - hy, cx + hx, cy + hy];
}

/** warp.face_field: the coarse backward field of one face ({x0, y0, step, rows, cols, d (float32,
 *  rows x cols x 2, image pixels), roi, factor}), or null when nothing moves. */
export function faceField(face, adj, width, height, frame = faceFrame(face)) {
  if (!frame || frame.weight <= 0) return null;
  const prims = shapePrimitives(face.points, frame, adj);
  if (!prims.length) return null;
  const step = Math.max(2, roundEven(frame.scale / SAMPLES_PER_SCALE));
  const eb = prims.map((p) => ellipseBox(p, frame));
  const bx0 = Math.min(...eb.map((b) => b[0])), by0 = Math.min(...eb.map((b) => b[1]));
  const bx1 = Math.max(...eb.map((b) => b[2])), by1 = Math.max(...eb.map((b) => b[3]));
  const gx0 = Math.floor(bx0) - 2 * step, gy0 = Math.floor(by0) - 2 * step;
  const cols = Math.ceil((bx1 - gx0) / step) + 3, rows = Math.ceil((by1 - gy0) / step) + 3;
  const half = (step - 1) / 2.0 + 0.5;  // continuous coordinate of sample 0 within its cell
  const { u, v } = frame, n = rows * cols;
  const A = new Float64Array(n), B = new Float64Array(n), dA = new Float64Array(n), dB = new Float64Array(n);
  for (let i = 0; i < rows; i++) {
    const Y = gy0 + i * step + half - frame.origin[1];
    for (let j = 0; j < cols; j++) {
      const X = gx0 + j * step + half - frame.origin[0];
      A[i * cols + j] = X * u[0] + Y * u[1]; B[i * cols + j] = X * v[0] + Y * v[1];
    }
  }
  // grid cells each primitive can reach (sample k sits at continuous coordinate gx0 + k*step + half)
  const cl = (x, hi) => Math.min(Math.max(x, 0), hi);
  const boxes = eb.map((b) => [cl(Math.floor((b[1] - gy0 - half) / step), rows), cl(Math.ceil((b[3] - gy0 - half) / step) + 1, rows),
    cl(Math.floor((b[0] - gx0 - half) / step), cols), cl(Math.ceil((b[2] - gx0 - half) / step) + 1, cols)]);
  evaluate(prims, A, B, boxes, cols, dA, dB);
  const d = new Float64Array(n * 2);
  for (let q = 0; q < n; q++) {
    d[2 * q] = dA[q] * u[0] + dB[q] * v[0];
    d[2 * q + 1] = dA[q] * u[1] + dB[q] * v[1];
  }
  const factor = safeFactor(d, rows, cols, step);
  const d32 = new Float32Array(d.length);
  for (let q = 0; q < d.length; q++) d32[q] = d[q] * factor;
  // region of influence: cells next to a sample that moves by more than IDLE_SHIFT
  let i0 = Infinity, i1 = -Infinity, j0 = Infinity, j1 = -Infinity, maxShift = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const m = Math.hypot(d32[(i * cols + j) * 2], d32[(i * cols + j) * 2 + 1]);
      maxShift = Math.max(maxShift, m);
      if (m > IDLE_SHIFT) { i0 = Math.min(i0, i); i1 = Math.max(i1, i); j0 = Math.min(j0, j); j1 = Math.max(j1, j); }
    }
  }
  if (i0 === Infinity) return null;
  i0 = Math.max(i0 - 1, 1); i1 = Math.min(i1 + 1, rows - 2); j0 = Math.max(j0 - 1, 1); j1 = Math.min(j1 + 1, cols - 2);
  const roi = [Math.max(gx0 + j0 * step, 0), Math.max(gy0 + i0 * step, 0), Math.min(gx0 + (j1 + 1) * step, width), Math.min(gy0 + (i1 + 1) * step, height)];
  if (roi[0] >= roi[2] || roi[1] >= roi[3]) return null;
  return { x0: gx0, y0: gy0, step, rows, cols, d: d32, roi, factor, scale: frame.scale, maxShift };
}

/** The fields of every face to edit (retoucher.retouch_report's shape part). */
export function retouchFields(faces, adj, width, height) {
  if (!adj.faceSlim && !adj.eyeSize) return [];
  return faces.map((f) => faceField(f, adj, width, height)).filter(Boolean);
}
