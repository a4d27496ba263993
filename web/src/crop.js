// The one crop rule of the Python package (src/pipnet106/crop.py), ported so that a face gives the
// network the same bytes here as there.
//
// Images are {data: Uint8Array, width, height} with 3 interleaved channels (BGR, the order the
// landmark model takes). Points are Float64Array(2N): x0, y0, x1, y1, ... in continuous pixel
// coordinates (pixel (i, j) covers [i, i+1) x [j, j+1)).
//
// OpenCV's arithmetic is reproduced step by step (Math.fround where OpenCV rounds to float32), so
// the crops, the detector's letterbox and its pyramid levels are byte-identical to cv2's:
//  - warpAffine INTER_LINEAR (OpenCV 5: float32 coordinates and weights, round half to even);
//  - resize INTER_AREA (area tables in float32; exact k x k block means for integer factors);
//  - crop.area_crop (the anti-aliased crop: exact footprint sums on the integral image).

export const DEFAULT_ENLARGE = 1.25;
export const AREA_FILTER_BELOW = 0.5;
const MAX_INTEGRAL_PIXELS = 4_000_000;
const f = Math.fround;

/** Round half to even, like Python's round() and OpenCV's cvRound. */
export function roundEven(v) {
  const r = Math.round(v);  // half up; a tie (r - v exactly 0.5) goes to the even neighbour
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const sat8 = (v) => (v <= 0 ? 0 : v >= 255 ? 255 : roundEven(v));

export class CropTransform {
  /** crop_xy = src_xy * scale + offset; `size` is the side of the square crop. */
  constructor(scale, offsetX, offsetY, size) {
    this.scale = scale; this.offsetX = offsetX; this.offsetY = offsetY; this.size = size;
  }

  toCrop(points) {
    const out = new Float64Array(points.length);
    for (let i = 0; i < points.length; i += 2) {
      out[i] = points[i] * this.scale + this.offsetX;
      out[i + 1] = points[i + 1] * this.scale + this.offsetY;
    }
    return out;
  }

  toSource(points) {
    const out = new Float64Array(points.length);
    for (let i = 0; i < points.length; i += 2) {
      out[i] = (points[i] - this.offsetX) / this.scale;
      out[i + 1] = (points[i + 1] - this.offsetY) / this.scale;
    }
    return out;
  }

  /** The size x size crop of `img`, anti-aliased when it shrinks by more than 2 (crop.py apply). */
  apply(img) {
    return this.scale < AREA_FILTER_BELOW ? areaCrop(img, this) : warpScaled(img, this);
  }
}

export function letterboxTransform(width, height, size) {
  const scale = size / Math.max(width, height);
  return new CropTransform(scale, (size - width * scale) / 2.0, (size - height * scale) / 2.0, size);
}

export function boxTransform(box, size) {
  const side = Math.max(box[2] - box[0], box[3] - box[1], 1e-6);
  const scale = size / side;
  return new CropTransform(scale, -box[0] * scale, -box[1] * scale, size);
}

export function squareBox(box, enlarge = DEFAULT_ENLARGE) {
  const cx = (box[0] + box[2]) / 2.0, cy = (box[1] + box[3]) / 2.0;
  const half = Math.max(box[2] - box[0], box[3] - box[1]) * enlarge / 2.0;
  return [cx - half, cy - half, cx + half, cy + half];
}

/** Tight box (x0, y0, x1, y1) of the points, ignoring non-finite ones. */
export function pointsBox(points) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < points.length; i += 2) {
    const x = points[i], y = points[i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (x < x0) x0 = x; if (x > x1) x1 = x;
    if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  return [x0, y0, x1, y1];
}

export function cropFromPoints(points, size, enlarge = DEFAULT_ENLARGE) {
  return boxTransform(squareBox(pointsBox(points), enlarge), size);
}

/** cv2.warpAffine(img, t.matrix(), INTER_LINEAR, BORDER_CONSTANT 0) for a scale + shift. */
export function warpScaled(img, t) {
  const { width: w, height: h, data: src } = img;
  const n = t.size, s = t.scale;
  // crop.pixel_centre_matrix, then OpenCV's own inversion (double), then float32 as OpenCV uses it
  const mx = (s * 0.5 + 0.0 * 0.5) + t.offsetX - 0.5;
  const my = (0.0 * 0.5 + s * 0.5) + t.offsetY - 0.5;
  const D = 1.0 / (s * s);
  const a11 = s * D, a22 = s * D;
  const b1 = -a11 * mx - (-0.0 * D) * my, b2 = -(-0.0 * D) * mx - a22 * my;
  const m0 = f(a11), m2 = f(b1), m4 = f(a22), m5 = f(b2);
  const out = new Uint8Array(n * n * 3);
  const stride = w * 3;
  const sxs = new Float32Array(n), ixs = new Int32Array(n);
  // OpenCV: sx = fma(M0, x, float(float(y*M1) + M2)), sy = fma(M3, x, float(float(y*M4) + M5)),
  // here with M1 = M3 = 0; the products and sums below are exact in double before each f()
  for (let x = 0; x < n; x++) {
    const sx = f(m0 * x + m2);
    ixs[x] = Math.floor(sx); sxs[x] = sx - ixs[x];
  }
  for (let y = 0; y < n; y++) {
    const my_ = f(f(y * m4) + m5);  // M_y = float(y*M4 + M5) in float arithmetic; M3 = 0
    const iy = Math.floor(my_), fy = my_ - iy;
    const rowOk0 = iy >= 0 && iy < h, rowOk1 = iy + 1 >= 0 && iy + 1 < h;
    const rowOut = iy < -1 || iy > h - 1;
    for (let x = 0; x < n; x++) {
      const o = (y * n + x) * 3;
      const ix = ixs[x];
      if (rowOut || ix < -1 || ix > w - 1) continue;  // the border value, 0
      const fx = sxs[x];
      const ok00 = rowOk0 && ix >= 0 && ix < w, ok01 = rowOk0 && ix + 1 >= 0 && ix + 1 < w;
      const ok10 = rowOk1 && ix >= 0 && ix < w, ok11 = rowOk1 && ix + 1 >= 0 && ix + 1 < w;
      const r0 = iy * stride + ix * 3, r1 = r0 + stride;
      for (let c = 0; c < 3; c++) {
        const p00 = ok00 ? src[r0 + c] : 0, p01 = ok01 ? src[r0 + 3 + c] : 0;
        const p10 = ok10 ? src[r1 + c] : 0, p11 = ok11 ? src[r1 + 3 + c] : 0;
        const v0 = f(p00 + fx * (p01 - p00));  // fma: one rounding (exact in double)
        const v1 = f(p10 + fx * (p11 - p10));
        out[o + c] = sat8(f(v0 + fy * f(v1 - v0)));
      }
    }
  }
  return out;
}

/** The (n+1) x (n+1) integral image of an RGB/BGR region, as exact integers (cv2.integral, CV_32S). */
function integral(src, stride, x0, y0, w, h) {
  const W = w + 1, out = new Float64Array((h + 1) * W * 3);
  for (let y = 0; y < h; y++) {
    let s0 = 0, s1 = 0, s2 = 0;
    const row = (y0 + y) * stride + x0 * 3, o = (y + 1) * W * 3, up = y * W * 3;
    for (let x = 0; x < w; x++) {
      s0 += src[row + x * 3]; s1 += src[row + x * 3 + 1]; s2 += src[row + x * 3 + 2];
      const k = (x + 1) * 3;
      out[o + k] = out[up + k] + s0; out[o + k + 1] = out[up + k + 1] + s1; out[o + k + 2] = out[up + k + 2] + s2;
    }
  }
  return out;
}

/** crop.area_crop: each crop pixel is the exact mean of the source area it covers (border 0). */
export function areaCrop(img, t) {
  const n = t.size, s = t.scale, { width: w, height: h } = img;
  const ex = new Float64Array(n + 1), ey = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) { ex[i] = (i - t.offsetX) / s; ey[i] = (i - t.offsetY) / s; }
  const clip = (v, hi) => Math.min(Math.max(v, 0), hi);
  const x0 = clip(Math.floor(ex[0]), w), x1 = clip(Math.ceil(ex[n]), w);
  const y0 = clip(Math.floor(ey[0]), h), y1 = clip(Math.ceil(ey[n]), h);
  const out = new Uint8Array(n * n * 3);
  if (x1 <= x0 || y1 <= y0) return out;  // entirely off the image
  let roi = { data: img.data, width: w, height: h }, rx0 = x0, ry0 = y0, rw = x1 - x0, rh = y1 - y0;
  const k = Math.ceil(Math.sqrt(rh * rw / MAX_INTEGRAL_PIXELS));
  let cx, cy;
  if (k > 1) {  // bound memory on huge faces: exact k x k block means first
    const hk = Math.ceil(rh / k), wk = Math.ceil(rw / k);
    const padded = padReplicate(subImage(img, x0, y0, rw, rh), wk * k, hk * k);
    roi = resizeArea(padded, wk, hk); rx0 = 0; ry0 = 0; rw = wk; rh = hk;
    cx = ex.map((v) => clip((v - x0) / k, (x1 - x0) / k));
    cy = ey.map((v) => clip((v - y0) / k, (y1 - y0) / k));
  } else {
    cx = ex.map((v) => clip(v - x0, x1 - x0));
    cy = ey.map((v) => clip(v - y0, y1 - y0));
  }
  const I = integral(roi.data, roi.width * 3, rx0, ry0, rw, rh);
  const sums = footprintSums(I, rw + 1, cx, cy, rw, rh, n);
  const alpha = f(k * k * s * s);  // convertScaleAbs / scaleAdd take their factor as float32
  for (let i = 0; i < sums.length; i++) out[i] = sat8(Math.abs(f(sums[i] * alpha)));
  return out;  // footprints partly off the image: the rest counts as the border value 0
}

/** crop._footprint_sums: float32 sums over every crop pixel's footprint, one axis at a time. */
function footprintSums(I, W, cx, cy, rw, rh, n) {
  const cols = 2 * n + 2, colOfs = new Int32Array(cols), fx = new Float64Array(n + 1);
  for (let j = 0; j <= n; j++) {
    const ix = Math.min(Math.trunc(cx[j]), rw - 1);
    fx[j] = f(cx[j] - ix); colOfs[j] = ix * 3; colOfs[n + 1 + j] = (ix + 1) * 3;
  }
  // along y, at the 2n+2 columns ix, ix+1: the strip between row edges i and i+1 is
  // (a_{i+1} - a_i) + d_{i+1} - d_i, with a = the integral at the edge's row, d = fy x the next row minus it
  const m = cols * 3, strips = new Float64Array(n * m);
  let a = new Float64Array(m), d = new Float64Array(m), aPrev = new Float64Array(m), dPrev = new Float64Array(m);
  for (let i = 0; i <= n; i++) {
    const iy = Math.min(Math.trunc(cy[i]), rh - 1), fy = f(cy[i] - iy), r0 = iy * W * 3, r1 = r0 + W * 3;
    for (let j = 0; j < cols; j++) {
      const o = j * 3, g = colOfs[j];
      for (let c = 0; c < 3; c++) { const g0 = I[r0 + g + c]; a[o + c] = g0; d[o + c] = f(f(I[r1 + g + c] - g0) * fy); }
    }
    if (i > 0) {
      const o = (i - 1) * m;
      for (let q = 0; q < m; q++) strips[o + q] = f(f(f(a[q] - aPrev[q]) + d[q]) - dPrev[q]);
    }
    [a, aPrev] = [aPrev, a]; [d, dPrev] = [dPrev, d];
  }
  // the same along x on the strips
  const out = new Float64Array(n * n * 3), half = (n + 1) * 3;
  for (let i = 0; i < n; i++) {
    const o = i * m;
    let dl0 = 0, dl1 = 0, dl2 = 0;
    for (let j = 0; j <= n; j++) {
      const p = o + j * 3, fj = fx[j];
      const d0 = f(f(strips[p + half] - strips[p]) * fj), d1 = f(f(strips[p + half + 1] - strips[p + 1]) * fj);
      const d2 = f(f(strips[p + half + 2] - strips[p + 2]) * fj);
      if (j > 0) {
        const q = (i * n + j - 1) * 3;
        out[q] = f(f(f(strips[p] - strips[p - 3]) + d0) - dl0);
        out[q + 1] = f(f(f(strips[p + 1] - strips[p - 2]) + d1) - dl1);
        out[q + 2] = f(f(f(strips[p + 2] - strips[p - 1]) + d2) - dl2);
      }
      dl0 = d0; dl1 = d1; dl2 = d2;
    }
  }
  return out;
}

/** A copy of the region (x, y, w, h) of an image. */
export function subImage(img, x, y, w, h) {
  const out = new Uint8Array(w * h * 3), stride = img.width * 3;
  for (let r = 0; r < h; r++) out.set(img.data.subarray((y + r) * stride + x * 3, (y + r) * stride + (x + w) * 3), r * w * 3);
  return { data: out, width: w, height: h };
}

/** cv2.copyMakeBorder(img, 0, H - h, 0, W - w, BORDER_REPLICATE). */
export function padReplicate(img, W, H) {
  if (W === img.width && H === img.height) return img;
  const out = new Uint8Array(W * H * 3), src = img.data, w = img.width;
  for (let y = 0; y < H; y++) {
    const sr = Math.min(y, img.height - 1) * w * 3, o = y * W * 3;
    out.set(src.subarray(sr, sr + w * 3), o);
    for (let x = w; x < W; x++) out.copyWithin(o + x * 3, o + (w - 1) * 3, o + w * 3);
  }
  return { data: out, width: W, height: H };
}

/** OpenCV's area table of one axis (computeResizeAreaTab), for destination indices [lo, hi):
 *  parallel arrays of destination index, source index and float32 weight. */
function areaTable(ssize, dsize, scale, lo = 0, hi = dsize) {
  const di = [], si = [], wt = [];
  for (let dx = lo; dx < hi; dx++) {
    const fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const cell = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1), sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1); sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) { di.push(dx); si.push(sx1 - 1); wt.push(f((sx1 - fsx1) / cell)); }
    for (let sx = sx1; sx < sx2; sx++) { di.push(dx); si.push(sx); wt.push(f(1.0 / cell)); }
    if (fsx2 - sx2 > 1e-3) { di.push(dx); si.push(sx2); wt.push(f(Math.min(Math.min(fsx2 - sx2, 1.0), cell) / cell)); }
  }
  return { di: Int32Array.from(di), si: Int32Array.from(si), wt: Float64Array.from(wt), n: di.length };
}

/** cv2.resize(img, (dw, dh), interpolation=INTER_AREA) for shrinking; with `rect` [x, y, w, h]
 *  only that part of the result (each output pixel is computed on its own, so the part is
 *  byte-identical to the same pixels of the whole). */
export function resizeArea(img, dw, dh, rect = null) {
  const { width: w, height: h } = img;
  const sx = 1.0 / (dw / w), sy = 1.0 / (dh / h);
  const kx = Math.round(sx), ky = Math.round(sy);  // OpenCV's is_area_fast (callers pad to a multiple)
  if (Math.abs(sx - kx) < Number.EPSILON && Math.abs(sy - ky) < Number.EPSILON && dw * kx === w && dh * ky === h) {
    const full = blockMeans(img, kx, ky);
    return rect ? subImage(full, ...rect) : full;
  }
  const [rx, ry, rw, rh] = rect || [0, 0, dw, dh];
  const xt = areaTable(w, dw, sx, rx, rx + rw), yt = areaTable(h, dh, sy, ry, ry + rh);
  const out = new Uint8Array(rw * rh * 3), src = img.data, n3 = rw * 3;
  const buf = new Float64Array(n3), sum = new Float64Array(n3);
  const xo = new Int32Array(xt.n), xi = new Int32Array(xt.n);
  for (let k = 0; k < xt.n; k++) { xo[k] = (xt.di[k] - rx) * 3; xi[k] = xt.si[k] * 3; }
  let prev = yt.di[0];
  for (let j = 0; j < yt.n; j++) {
    const dy = yt.di[j], beta = yt.wt[j], row = yt.si[j] * w * 3;
    buf.fill(0);
    for (let k = 0; k < xt.n; k++) {
      const o = xo[k], i = row + xi[k], a = xt.wt[k];
      buf[o] = f(buf[o] + f(src[i] * a)); buf[o + 1] = f(buf[o + 1] + f(src[i + 1] * a)); buf[o + 2] = f(buf[o + 2] + f(src[i + 2] * a));
    }
    if (dy !== prev) {
      const base = (prev - ry) * n3;
      for (let q = 0; q < n3; q++) { out[base + q] = sat8(sum[q]); sum[q] = f(beta * buf[q]); }
      prev = dy;
    } else {
      for (let q = 0; q < n3; q++) sum[q] = f(sum[q] + f(beta * buf[q]));
    }
  }
  const base = (prev - ry) * n3;
  for (let q = 0; q < n3; q++) out[base + q] = sat8(sum[q]);
  return { data: out, width: rw, height: rh };
}

/** INTER_AREA by an integer factor: exact block sums; OpenCV rounds 2x2 means half up and others
 *  as float32(sum * float32(1 / area)), half to even. */
function blockMeans(img, kx, ky) {
  const dw = img.width / kx, dh = img.height / ky, src = img.data, stride = img.width * 3;
  const out = new Uint8Array(dw * dh * 3), inv = f(1.0 / (kx * ky)), two = kx === 2 && ky === 2;
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = 0; j < ky; j++) {
          const r = (y * ky + j) * stride + x * kx * 3 + c;
          for (let i = 0; i < kx; i++) s += src[r + i * 3];
        }
        out[(y * dw + x) * 3 + c] = two ? (s + 2) >> 2 : sat8(f(s * inv));
      }
    }
  }
  return { data: out, width: dw, height: dh };
}

/** cv2.resize INTER_LINEAR for enlarging (only tiny photos need it; float, not OpenCV's fixed point). */
export function resizeLinear(img, dw, dh) {
  const { width: w, height: h, data: src } = img;
  const out = new Uint8Array(dw * dh * 3), sx = w / dw, sy = h / dh;
  for (let y = 0; y < dh; y++) {
    let fy = (y + 0.5) * sy - 0.5; let iy = Math.floor(fy); fy -= iy;
    if (iy < 0) { iy = 0; fy = 0; } if (iy >= h - 1) { iy = h - 1; fy = 0; }
    const iy1 = Math.min(iy + 1, h - 1);
    for (let x = 0; x < dw; x++) {
      let fx = (x + 0.5) * sx - 0.5; let ix = Math.floor(fx); fx -= ix;
      if (ix < 0) { ix = 0; fx = 0; } if (ix >= w - 1) { ix = w - 1; fx = 0; }
      const ix1 = Math.min(ix + 1, w - 1);
      for (let c = 0; c < 3; c++) {
        const p00 = src[(iy * w + ix) * 3 + c], p01 = src[(iy * w + ix1) * 3 + c];
        const p10 = src[(iy1 * w + ix) * 3 + c], p11 = src[(iy1 * w + ix1) * 3 + c];
        const v0 = p00 + fx * (p01 - p00), v1 = p10 + fx * (p11 - p10);
        out[(y * dw + x) * 3 + c] = sat8(v0 + fy * (v1 - v0));
      }
    }
  }
  return { data: out, width: dw, height: dh };
}
