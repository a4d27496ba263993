// The retouch preview on a 2D canvas, for browsers without a hardware GPU. WebGL there is a
// software rasterizer (SwiftShader, llvmpipe) that runs every pixel of the frame through the shader;
// here only each face's region of influence is computed, on the CPU, with the same arithmetic as
// the fragment shader in gl.js (cv2.resize-style upsample of the coarse field, bilinear sample at
// x + d(x), reflect-101 border), and the frame is shown with putImageData.

/** Warp `fld.roi` of `src` (RGBA, w x h) into `dst` (RGBA, same size); pixels outside stay as they are. */
export function warpRegion(src, dst, w, h, fld) {
  const [x0, y0, x1, y1] = fld.roi, { step, cols, rows, d } = fld;
  const gx = new Float64Array(x1 - x0), ix = new Int32Array(x1 - x0);
  for (let x = x0; x < x1; x++) {  // coarse column of each pixel (cv2.resize INTER_LINEAR, clamped)
    let g = (x - fld.x0 + 0.5) / step - 0.5, i = Math.floor(g);
    g -= i;
    if (i < 0) { i = 0; g = 0; }
    if (i >= cols - 1) { i = cols - 1; g = 0; }
    ix[x - x0] = i; gx[x - x0] = g;
  }
  const refl = (v, n) => { v = Math.abs(v); return (n - 1) - Math.abs((n - 1) - v); };
  for (let y = y0; y < y1; y++) {
    let ty = (y - fld.y0 + 0.5) / step - 0.5, iy = Math.floor(ty);
    ty -= iy;
    if (iy < 0) { iy = 0; ty = 0; }
    if (iy >= rows - 1) { iy = rows - 1; ty = 0; }
    const iy1 = Math.min(iy + 1, rows - 1);
    for (let x = x0; x < x1; x++) {
      const j = ix[x - x0], tx = gx[x - x0], j1 = Math.min(j + 1, cols - 1);
      const a = (iy * cols + j) * 2, b = (iy * cols + j1) * 2, c = (iy1 * cols + j) * 2, e = (iy1 * cols + j1) * 2;
      const dx0 = d[a] + (d[b] - d[a]) * tx, dx1 = d[c] + (d[e] - d[c]) * tx;
      const dy0 = d[a + 1] + (d[b + 1] - d[a + 1]) * tx, dy1 = d[c + 1] + (d[e + 1] - d[c + 1]) * tx;
      const sx = x + dx0 + (dx1 - dx0) * ty, sy = y + dy0 + (dy1 - dy0) * ty;
      const fx = Math.floor(sx), fy = Math.floor(sy), u = sx - fx, v = sy - fy;
      const xa = refl(fx, w), xb = refl(fx + 1, w), ya = refl(fy, h) * w, yb = refl(fy + 1, h) * w;
      const p00 = (ya + xa) * 4, p01 = (ya + xb) * 4, p10 = (yb + xa) * 4, p11 = (yb + xb) * 4, o = (y * w + x) * 4;
      for (let k = 0; k < 3; k++) {
        const top = src[p00 + k] + (src[p01 + k] - src[p00 + k]) * u, bot = src[p10 + k] + (src[p11 + k] - src[p10 + k]) * u;
        dst[o + k] = top + (bot - top) * v;  // Uint8ClampedArray: rounded to nearest, saturated
      }
    }
  }
}

/** Two boxes apart by at least `margin` pixels (retoucher._disjoint). */
function disjoint(r, s, margin = 2) {
  return r[2] + margin <= s[0] || s[2] + margin <= r[0] || r[3] + margin <= s[1] || s[3] + margin <= r[1];
}

export class CanvasPreview {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.name = 'canvas 2D (CPU warp of each face region)';
    this.width = 0; this.height = 0; this.src = null; this.out = null;
  }

  setImage(rgba, width, height) {
    if (this.canvas.width !== width || this.canvas.height !== height) { this.canvas.width = width; this.canvas.height = height; }
    if (this.width !== width || this.height !== height || !this.out) {
      this.width = width; this.height = height;
      this.out = new ImageData(width, height);
    }
    this.src = rgba;
  }

  /** Show the image with every face's field applied, each from the previous result where their
   *  regions meet (as the Python retouch composes them). */
  render(fields) {
    const { src, width: w, height: h } = this, dst = this.out.data;
    dst.set(src);
    const touched = [];
    for (const f of fields) {
      const from = touched.every((t) => disjoint(f.roi, t)) ? src : Uint8ClampedArray.from(dst);
      warpRegion(from, dst, w, h, f);
      touched.push(f.roi);
    }
    this.ctx.putImageData(this.out, 0, 0);
  }

  sync() {}

  read() { return new Uint8Array(this.out.data.buffer.slice(0)); }
}
