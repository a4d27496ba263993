// Camera frames as pixels: the pipeline's BGR image and the RGBA picture to show, from one frame.
//
// A camera delivers YUV (NV12 or I420); drawing the <video> into a canvas and reading it back costs
// a GPU round trip per frame (35-45 ms measured in headless Chromium), while copying the frame's
// own planes out of a VideoFrame costs about 3 ms and the conversion below about as much. Browsers
// without VideoFrame (or frames in other formats) take the canvas path.

/** YUV -> RGB coefficients for a VideoFrame's colour space (BT.601 unless it says BT.709). */
function yuvCoefficients(cs) {
  const bt709 = cs && cs.matrix === 'bt709';
  const [kr, kb] = bt709 ? [0.2126, 0.0722] : [0.299, 0.114];
  const kg = 1 - kr - kb, full = !!(cs && cs.fullRange);
  const ys = full ? 1 : 255 / 219, cs_ = full ? 1 : 255 / 224, y0 = full ? 0 : 16;
  return { y0, ys, rv: 2 * (1 - kr) * cs_, gu: -2 * (1 - kb) * kb / kg * cs_, gv: -2 * (1 - kr) * kr / kg * cs_, bu: 2 * (1 - kb) * cs_ };
}

const clamp8 = (v) => (v < 0 ? 0 : v > 255 ? 255 : (v + 0.5) | 0);

/** Planar YUV 4:2:0 -> BGR (pipeline) and RGBA (display) in one pass. */
function yuv420(buf, layout, w, h, interleaved, k, bgr, rgba) {
  const [yl, ul, vl] = layout;
  for (let y = 0; y < h; y++) {
    const yr = yl.offset + y * yl.stride, cr = (y >> 1);
    for (let x = 0; x < w; x++) {
      let u, v;
      if (interleaved) { const o = ul.offset + cr * ul.stride + (x >> 1) * 2; u = buf[o] - 128; v = buf[o + 1] - 128; } else {
        u = buf[ul.offset + cr * ul.stride + (x >> 1)] - 128; v = buf[vl.offset + cr * vl.stride + (x >> 1)] - 128;
      }
      const Y = (buf[yr + x] - k.y0) * k.ys;
      const r = clamp8(Y + k.rv * v), g = clamp8(Y + k.gu * u + k.gv * v), b = clamp8(Y + k.bu * u);
      const i = y * w + x;
      bgr[3 * i] = b; bgr[3 * i + 1] = g; bgr[3 * i + 2] = r;
      rgba[4 * i] = r; rgba[4 * i + 1] = g; rgba[4 * i + 2] = b; rgba[4 * i + 3] = 255;
    }
  }
}

export class FrameGrabber {
  constructor(video) {
    this.video = video;
    this.width = video.videoWidth; this.height = video.videoHeight;
    this.bgr = new Uint8Array(this.width * this.height * 3);
    this.rgba = new Uint8ClampedArray(this.width * this.height * 4);
    this.buf = null;
    this.path = typeof VideoFrame === 'function' ? 'VideoFrame' : 'canvas';
    this.ctx = null;
    this.copyMs = 0; this.convertMs = 0; this.frames = 0;  // where a grab's time goes
    // frames the video has shown (its frame callbacks), for the canvas path's "is this frame new?"
    this.presented = 0; this.taken = -1;
    if (video.requestVideoFrameCallback) {
      const tick = (_, meta) => { this.presented = meta.presentedFrames; video.requestVideoFrameCallback(tick); };
      video.requestVideoFrameCallback(tick);
    } else {
      this.presented = NaN;  // never equal: every grab counts as new
    }
  }

  /** This frame as {img (BGR for the pipeline), rgba (to show)}; both buffers are reused. With
   *  `newOnly`, null when the video still shows the frame grabbed last time. */
  async grab(newOnly = false) {
    if (this.path === 'VideoFrame') {
      const frame = new VideoFrame(this.video);
      try {
        if (newOnly && frame.timestamp === this.lastTimestamp) return null;
        this.lastTimestamp = frame.timestamp;
        if (['NV12', 'I420', 'RGBA', 'RGBX', 'BGRA', 'BGRX'].includes(frame.format) && frame.codedWidth >= this.width) {
          const size = frame.allocationSize();
          if (!this.buf || this.buf.length !== size) this.buf = new Uint8Array(size);
          const t0 = performance.now();
          const layout = await frame.copyTo(this.buf);
          const t1 = performance.now();
          this.convert(frame.format, layout, yuvCoefficients(frame.colorSpace));
          this.copyMs += t1 - t0; this.convertMs += performance.now() - t1; this.frames++;
          return { img: { data: this.bgr, width: this.width, height: this.height }, rgba: this.rgba };
        }
        this.path = 'canvas';
      } finally {
        frame.close();
      }
    }
    if (newOnly && this.presented === this.taken) return null;
    this.taken = this.presented;
    if (!this.ctx) this.ctx = new OffscreenCanvas(this.width, this.height).getContext('2d', { willReadFrequently: true });
    this.ctx.drawImage(this.video, 0, 0, this.width, this.height);
    this.rgba = this.ctx.getImageData(0, 0, this.width, this.height).data;
    const n = this.width * this.height, s = this.rgba, d = this.bgr;
    for (let i = 0, j = 0; i < n; i++, j += 4) { d[3 * i] = s[j + 2]; d[3 * i + 1] = s[j + 1]; d[3 * i + 2] = s[j]; }
    return { img: { data: this.bgr, width: this.width, height: this.height }, rgba: this.rgba };
  }

  convert(format, layout, k) {
    const { width: w, height: h, buf, bgr, rgba } = this;
    if (format === 'NV12' || format === 'I420') { yuv420(buf, layout, w, h, format === 'NV12', k, bgr, rgba); return; }
    const swap = format.startsWith('BGR'), p = layout[0];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = p.offset + y * p.stride + 4 * x, i = y * w + x;
        const r = buf[o + (swap ? 2 : 0)], g = buf[o + 1], b = buf[o + (swap ? 0 : 2)];
        bgr[3 * i] = b; bgr[3 * i + 1] = g; bgr[3 * i + 2] = r;
        rgba[4 * i] = r; rgba[4 * i + 1] = g; rgba[4 * i + 2] = b; rgba[4 * i + 3] = 255;
      }
    }
  }
}
