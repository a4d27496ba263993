// The retouch preview on the GPU (WebGL2): what cv2.resize + cv2.remap do in the Python retouch
// (warp.apply_field), per pixel in a fragment shader. Each face's coarse backward field (retouch.js)
// is a small float texture; the shader upsamples it bilinearly exactly as cv2.resize INTER_LINEAR
// puts the samples (sample j at pixel centre x0 + j*step + (step-1)/2, clamped at the edges), and
// samples the image at x + d(x) bilinearly with a reflect-101 border. Pixels outside the face's
// region of influence are copied unchanged. Faces are warped one after the other, each pass
// reading the previous one's result, as the Python retouch composes them.

const VERT = `#version 300 es
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}`;

const FRAG = `#version 300 es
precision highp float;
precision highp int;
uniform sampler2D img;
uniform highp sampler2D field;
uniform vec2 size;        // image width, height
uniform bool srcBottomUp; // the input's row 0 is the image's bottom (a previous pass's output)
uniform vec4 roi;         // x0, y0, x1, y1 in pixels (top-left origin); empty: copy
uniform vec3 grid;        // x0, y0 of the coarse grid, step
out vec4 color;

vec4 texel(ivec2 p) {
  ivec2 s = ivec2(size);
  p = abs(p);                                  // reflect-101 border (cv2.BORDER_REFLECT_101)
  p = (s - 1) - abs((s - 1) - p);
  if (srcBottomUp) p.y = s.y - 1 - p.y;
  return texelFetch(img, p, 0);
}

vec2 coarse(vec2 q) {                          // cv2.resize INTER_LINEAR of the coarse field
  ivec2 n = textureSize(field, 0);
  vec2 g = (q - grid.xy + 0.5) / grid.z - 0.5;
  vec2 i0 = floor(g), t = g - i0;
  ivec2 a = ivec2(i0);
  if (a.x < 0) { a.x = 0; t.x = 0.0; } if (a.x >= n.x - 1) { a.x = n.x - 1; t.x = 0.0; }
  if (a.y < 0) { a.y = 0; t.y = 0.0; } if (a.y >= n.y - 1) { a.y = n.y - 1; t.y = 0.0; }
  ivec2 b = min(a + 1, n - 1);
  vec2 d00 = texelFetch(field, a, 0).rg, d01 = texelFetch(field, ivec2(b.x, a.y), 0).rg;
  vec2 d10 = texelFetch(field, ivec2(a.x, b.y), 0).rg, d11 = texelFetch(field, b, 0).rg;
  return mix(mix(d00, d01, t.x), mix(d10, d11, t.x), t.y);
}

void main() {
  vec2 px = vec2(floor(gl_FragCoord.x), size.y - 1.0 - floor(gl_FragCoord.y));  // pixel, top-left origin
  if (px.x < roi.x || px.x >= roi.z || px.y < roi.y || px.y >= roi.w) {
    color = texel(ivec2(px));
    return;
  }
  vec2 s = px + coarse(px);                    // pixel-centre coordinates of the source
  vec2 i0 = floor(s), t = s - i0;
  ivec2 a = ivec2(i0);
  vec4 c = mix(mix(texel(a), texel(a + ivec2(1, 0)), t.x), mix(texel(a + ivec2(0, 1)), texel(a + ivec2(1, 1)), t.x), t.y);
  color = c;
}`;

function compile(gl, type, src) {
  const s = gl.createShader(type);
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`shader: ${gl.getShaderInfoLog(s)}`);
  return s;
}

function texture(gl, filter) {
  const t = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, t);
  for (const [k, v] of [[gl.TEXTURE_MIN_FILTER, filter], [gl.TEXTURE_MAG_FILTER, filter],
    [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) gl.texParameteri(gl.TEXTURE_2D, k, v);
  return t;
}

export class Renderer {
  /** `canvas`: the page's output canvas. Throws when WebGL2 is not available. */
  constructor(canvas) {
    const gl = canvas.getContext('webgl2', { preserveDrawingBuffer: true, antialias: false, premultipliedAlpha: false, alpha: false });
    if (!gl) throw new Error('WebGL2 is not available in this browser');
    this.gl = gl; this.canvas = canvas;
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VERT));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, FRAG));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(`program: ${gl.getProgramInfoLog(prog)}`);
    this.prog = prog;
    this.u = Object.fromEntries(['img', 'field', 'size', 'srcBottomUp', 'roi', 'grid'].map((n) => [n, gl.getUniformLocation(prog, n)]));
    this.src = texture(gl, gl.NEAREST);
    this.fieldTex = texture(gl, gl.NEAREST);
    this.targets = [];  // ping-pong framebuffers for faces after the first
    this.vao = gl.createVertexArray();
    const dbg = gl.getExtension('WEBGL_debug_renderer_info');
    this.name = dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    this.width = 0; this.height = 0;
  }

  /** Upload this frame's pixels (ImageData, or RGBA bytes with width and height). */
  setImage(rgba, width, height) {
    const gl = this.gl;
    if (this.canvas.width !== width || this.canvas.height !== height) { this.canvas.width = width; this.canvas.height = height; }
    if (this.width !== width || this.height !== height) { this.width = width; this.height = height; this.resizeTargets(); }
    gl.bindTexture(gl.TEXTURE_2D, this.src);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
  }

  resizeTargets() {
    const gl = this.gl;
    for (const t of this.targets) { gl.deleteFramebuffer(t.fb); gl.deleteTexture(t.tex); }
    this.targets = [0, 1].map(() => {
      const tex = texture(gl, gl.NEAREST);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, this.width, this.height, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
      const fb = gl.createFramebuffer();
      gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
      return { tex, fb };
    });
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  }

  /** Draw the image with every face's field applied (retouch.js `faceField`s; [] = the photo as is). */
  render(fields) {
    const gl = this.gl, u = this.u;
    gl.useProgram(this.prog);
    gl.bindVertexArray(this.vao);
    gl.viewport(0, 0, this.width, this.height);
    gl.uniform2f(u.size, this.width, this.height);
    gl.uniform1i(u.img, 0); gl.uniform1i(u.field, 1);
    let input = this.src, bottomUp = false;
    const passes = fields.length ? fields : [null];
    passes.forEach((fld, k) => {
      const last = k === passes.length - 1, target = last ? null : this.targets[k % 2];
      gl.bindFramebuffer(gl.FRAMEBUFFER, target ? target.fb : null);
      gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, input);
      gl.uniform1i(u.srcBottomUp, bottomUp ? 1 : 0);
      if (fld) {
        gl.activeTexture(gl.TEXTURE1); gl.bindTexture(gl.TEXTURE_2D, this.fieldTex);
        gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RG32F, fld.cols, fld.rows, 0, gl.RG, gl.FLOAT, fld.d);
        gl.uniform4f(u.roi, ...fld.roi);
        gl.uniform3f(u.grid, fld.x0, fld.y0, fld.step);
      } else {
        gl.uniform4f(u.roi, 0, 0, 0, 0);
      }
      gl.drawArrays(gl.TRIANGLES, 0, 3);
      if (target) { input = target.tex; bottomUp = true; }
    });
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  }

  /** Wait until the GPU has drawn the frame (for honest per-frame timings). */
  sync() {
    const px = new Uint8Array(4);
    this.gl.readPixels(0, 0, 1, 1, this.gl.RGBA, this.gl.UNSIGNED_BYTE, px);
  }

  /** The drawn picture as RGBA rows, top row first. */
  read() {
    const gl = this.gl, w = this.width, h = this.height, buf = new Uint8Array(w * h * 4), out = new Uint8Array(w * h * 4);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, buf);
    for (let y = 0; y < h; y++) out.set(buf.subarray((h - 1 - y) * w * 4, (h - y) * w * 4), y * w * 4);
    return out;
  }
}
