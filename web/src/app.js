// The page: a photo dropped in or the webcam -> faces and 106 points (onnxruntime-web) -> retouch
// preview (WebGL2). Everything it loads comes from its own folder: the models under models/, the
// onnxruntime-web runtime and its wasm files under ort/.

import * as ort from 'onnxruntime-web';
import { createModels } from './models.js';
import { BlazeFace } from './blazeface.js';
import { Landmarker, mean } from './landmarker.js';
import { Tracker } from './tracker.js';
import { retouchFields } from './retouch.js';
import { Renderer } from './gl.js';
import { CanvasPreview } from './preview.js';
import { FrameGrabber } from './camera.js';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const now = () => performance.now();
const state = { models: null, lm: null, renderer: null, faces: [], source: null, live: null, last: null };

function setStatus(text, kind = '') {
  $('status').textContent = text;
  $('status').className = kind;
}

function adjustments() {
  if (!$('retouch').checked) return { faceSlim: 0, eyeSize: 0 };
  return { faceSlim: Number($('slim').value), eyeSize: Number($('eyes').value) };
}

/** RGBA pixels -> the pipeline's BGR image. */
function toBgr(rgba, width, height) {
  const n = width * height, out = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) { out[3 * i] = rgba[j + 2]; out[3 * i + 1] = rgba[j + 1]; out[3 * i + 2] = rgba[j]; }
  return { data: out, width, height };
}

async function init() {
  const ep = params.get('ep') === 'webgpu' ? 'webgpu' : 'wasm';
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  // onnxruntime-web's own default (half the cores, at most 4; 1 on 2 cores): measured on 2 busy
  // cores, a second thread made the landmark network 2x slower (docs/deploy-web.md)
  const cores = navigator.hardwareConcurrency || 1;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Number(params.get('threads') || Math.min(4, Math.ceil(cores / 2))) : 1;
  ort.env.logLevel = 'error';
  if (ep === 'webgpu' && !navigator.gpu) throw new Error('this browser offers no WebGPU (try without ?ep=webgpu)');
  setStatus('loading the models ...');
  const [lmBytes, detBytes] = await Promise.all(['models/starter.onnx', 'models/blazeface_full.onnx'].map(async (u) => {
    const r = await fetch(u);
    if (!r.ok) throw new Error(`${u}: ${r.status} ${r.statusText}`);
    return new Uint8Array(await r.arrayBuffer());
  }));
  state.models = await createModels(ort, lmBytes, detBytes, { ep });
  state.lm = new Landmarker(state.models.landmarks, state.models.meta, new BlazeFace(state.models.detector));
  state.backend = ep === 'wasm' ? `wasm, ${ort.env.wasm.numThreads} thread(s)` : 'webgpu';
  state.renderer = pickRenderer($('view'), params.get('render'));
  const m = state.models.meta;
  $('model').textContent = `${m.source || 'starter.onnx'}: ${m.backbone || ''} ${m.input_size}px, ${m.layout}, enlarge ${m.crop_enlarge}`
    + ` | runtime onnxruntime-web ${ort.env.versions?.web || ''} (${state.backend}) | retouch preview: ${state.renderer.name}`;
  $('terms').textContent = m.training_data_terms ? `Model terms: ${m.training_data_terms}` : '';
  setStatus('ready: drop a photo or start the camera', 'ok');
  document.body.dataset.state = 'ready';
}

/** Software WebGL (no GPU: SwiftShader, llvmpipe) runs the shader over every pixel on the CPU. */
function softwareGl() {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return 'no WebGL2';
  const dbg = gl.getExtension('WEBGL_debug_renderer_info');
  const name = String(dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return /swiftshader|llvmpipe|softpipe|software|microsoft basic/i.test(name) ? `software WebGL (${name})` : null;
}

/** WebGL2 on a GPU; the canvas preview without one (or as `?render=webgl|canvas` says). */
function pickRenderer(canvas, want) {
  const why = want === 'webgl' ? null : want === 'canvas' ? 'asked for' : softwareGl();
  if (!why) {
    try {
      const r = new Renderer(canvas);
      r.name = `WebGL2 (${r.name})`;
      return r;
    } catch (e) {
      if (want === 'webgl') throw e;
    }
  }
  const r = new CanvasPreview(canvas);
  if (why && why !== 'asked for') r.name += `; ${why} not used`;
  return r;
}

/** Points (and boxes for photos) over the picture. */
function drawOverlay(faces, width, height, boxes) {
  const c = $('overlay');
  if (c.width !== width || c.height !== height) { c.width = width; c.height = height; }
  const g = c.getContext('2d');
  g.clearRect(0, 0, width, height);
  if (!$('points').checked) return;
  for (const f of faces) {
    const p = f.points, r = Math.max(1.2, Math.hypot(p[2 * 66] - p[2 * 79], p[2 * 66 + 1] - p[2 * 79 + 1]) / 60);
    if (boxes) {
      g.strokeStyle = 'rgba(255,210,0,0.8)'; g.lineWidth = 1;
      g.strokeRect(f.box[0], f.box[1], f.box[2] - f.box[0], f.box[3] - f.box[1]);
    }
    for (let k = 0; k < p.length / 2; k++) {
      g.fillStyle = f.conf[k] >= 0.5 ? '#2ef2a0' : '#ff8a3d';
      g.beginPath(); g.arc(p[2 * k], p[2 * k + 1], r, 0, 2 * Math.PI); g.fill();
    }
  }
}

/** Retouch preview of the current picture with the current faces. */
function draw(rgba, width, height, faces, boxes) {
  const t0 = now();
  const fields = retouchFields(faces, adjustments(), width, height);
  const t1 = now();
  state.renderer.setImage(rgba, width, height);
  state.renderer.render(fields);
  drawOverlay(faces, width, height, boxes);
  return { fieldMs: t1 - t0, drawMs: now() - t1, fields };
}

/** A photo (File, Blob or URL): decode, find the faces and points, draw the preview. */
async function runPhoto(src) {
  stopCamera();
  document.body.dataset.state = 'working';
  setStatus('working ...');
  const blob = typeof src === 'string' ? await (await fetch(src)).blob() : src;
  let bmp;
  try {
    bmp = await createImageBitmap(blob, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new Error(`${src.name || src}: not an image this browser can decode`);
  }
  const { width, height } = bmp, c = new OffscreenCanvas(width, height), g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(bmp, 0, 0);
  const rgba = g.getImageData(0, 0, width, height).data;
  const t0 = now(), img = toBgr(rgba, width, height);
  const runs0 = state.lm.detector.runs, lm0 = state.lm.runs;
  const faces = await state.lm.predict(img);
  const t1 = now();
  state.source = { rgba: new Uint8Array(rgba.buffer), width, height };
  state.faces = faces;
  const d = draw(state.source.rgba, width, height, faces, true);
  state.renderer.sync();
  const t2 = now();
  state.last = {
    kind: 'photo', width, height, ms: t1 - t0, retouchMs: t2 - t1, detectorRuns: state.lm.detector.runs - runs0,
    landmarkBatches: state.lm.runs - lm0, backend: state.backend, renderer: state.renderer.name,
    fields: d.fields.map((f) => ({ roi: f.roi, factor: f.factor, maxShift: f.maxShift })),
    faces: faces.map((f) => ({ box: f.box, score: f.score, points: Array.from(f.points), conf: Array.from(f.conf) })),
  };
  $('stats').textContent = `${faces.length} face(s) on ${width}x${height} | landmarks ${(t1 - t0).toFixed(0)} ms`
    + ` (${state.last.detectorRuns} detector runs, ${state.last.landmarkBatches} landmark batches) | retouch preview ${(t2 - t1).toFixed(1)} ms`;
  setStatus(faces.length ? 'done' : 'no face found', faces.length ? 'ok' : 'warn');
  document.body.dataset.state = 'photo-done';
  return state.last;
}

/** Redraw the photo after a slider moved (the points stay). */
function redrawPhoto() {
  if (state.live || !state.source) return;
  const s = state.source;
  draw(s.rgba, s.width, s.height, state.faces, true);
}

function nextFrame(video) {
  return new Promise((resolve) => (video.requestVideoFrameCallback ? video.requestVideoFrameCallback(() => resolve()) : requestAnimationFrame(() => resolve())));
}

/** The live loop: camera frame -> tracker (detection spread over frames) -> retouch preview. */
async function startCamera() {
  if (state.live) return;
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, frameRate: { ideal: 60 } }, audio: false });
  const video = $('video');
  video.srcObject = stream;
  await video.play();
  const width = video.videoWidth, height = video.videoHeight;
  const grabber = new FrameGrabber(video);
  // new faces are looked for all the time, the detector's runs spread over `scan` frames (about a
  // second at 30 frames/s; the Python Tracker's default is 10)
  const tracker = new Tracker(state.lm, { scanFrames: Number(params.get('scan') || 30) });
  const live = { grabber, scanFrames: tracker.scanFrames, stream, running: true, frames: 0, times: [], parts: { grab: 0, track: 0, field: 0, draw: 0 }, start: now(), faces: 0, width, height, detectorRuns: 0 };
  state.live = live;
  document.body.dataset.state = 'live';
  setStatus('camera on', 'ok');
  $('camera').textContent = 'Stop camera';
  live.runs0 = state.lm.detector.runs;
  live.ms0 = [state.lm.cropMs, state.lm.netMs, state.lm.detector.netMs];
  let lastShown = now();
  while (live.running) {
    // the newest camera frame, at once when one came while the last was processed (waiting for the
    // next frame callback then costs up to a frame: 40 ms of work gave 15-18 frames/s of 30, not 22)
    let t0 = now(), got = await grabber.grab(true);
    while (!got && live.running) {
      await nextFrame(video);
      t0 = now();
      got = await grabber.grab(true);
    }
    if (!live.running) break;
    const { img, rgba } = got;
    const t1 = now();
    const faces = await tracker.update(img, video.currentTime);
    const t2 = now();
    // WebGL draws once per rendering step: a loop that never lets one happen (a new frame always
    // ready) made headless Chromium's WebGL stall and the page crash within seconds
    if (state.renderer instanceof Renderer) await new Promise((r) => requestAnimationFrame(r));
    const d = draw(rgba, width, height, faces, false);
    state.renderer.sync();
    const t3 = now();
    live.frames++; live.faces += faces.length;
    live.times.push(t3 - t0);
    live.parts.grab += t1 - t0; live.parts.track += t2 - t1; live.parts.field += d.fieldMs; live.parts.draw += t3 - t2 - d.fieldMs;
    live.detectorRuns = state.lm.detector.runs - live.runs0;
    state.faces = faces;
    if (t3 - lastShown > 500) {
      lastShown = t3;
      const s = liveStats();
      $('stats').textContent = `${s.fps.toFixed(1)} frames/s | ${s.msPerFrame.toFixed(1)} ms/frame (grab ${s.parts.grab.toFixed(1)}, `
        + `landmarks+tracking ${s.parts.track.toFixed(1)}, retouch field ${s.parts.field.toFixed(1)}, draw ${s.parts.draw.toFixed(1)}) | `
        + `${faces.length} face(s) | ${s.detectorRunsPerFrame.toFixed(2)} detector runs/frame | ${state.backend} | frames via ${grabber.path}`;
    }
  }
}

function liveStats() {
  const l = state.live || state.lastLive;
  if (!l) return null;
  const n = Math.max(l.frames, 1), secs = ((l.end || now()) - l.start) / 1000;
  const sorted = [...l.times].sort((a, b) => a - b);
  return {
    frames: l.frames, seconds: secs, fps: l.frames / secs, msPerFrame: l.times.reduce((a, b) => a + b, 0) / n,
    p95: sorted[Math.floor(0.95 * (sorted.length - 1))] || 0, facesPerFrame: l.faces / n,
    parts: Object.fromEntries(Object.entries(l.parts).map(([k, v]) => [k, v / n])),
    detectorRunsPerFrame: l.detectorRuns / n, width: l.width, height: l.height, backend: state.backend,
    renderer: state.renderer.name, frames_via: l.grabber.path, scanFrames: l.scanFrames,
    trackSplit: { cropMs: (state.lm.cropMs - l.ms0[0]) / n, landmarkNetMs: (state.lm.netMs - l.ms0[1]) / n, detectorNetMs: (state.lm.detector.netMs - l.ms0[2]) / n },
    grabSplit: { copyMs: l.grabber.copyMs / Math.max(l.grabber.frames, 1), convertMs: l.grabber.convertMs / Math.max(l.grabber.frames, 1) },
  };
}

/** Start counting afresh (the test skips the first frames: session warm-up, first full detection). */
function resetLiveStats() {
  const l = state.live;
  if (!l) return;
  Object.assign(l.grabber, { copyMs: 0, convertMs: 0, frames: 0 });
  Object.assign(l, { frames: 0, times: [], parts: { grab: 0, track: 0, field: 0, draw: 0 }, start: now(), faces: 0 });
  l.detectorRuns = 0;
  l.runs0 = state.lm.detector.runs;
  l.ms0 = [state.lm.cropMs, state.lm.netMs, state.lm.detector.netMs];
}

function stopCamera() {
  const l = state.live;
  if (!l) return;
  l.running = false; l.end = now();
  for (const t of l.stream.getTracks()) t.stop();
  state.lastLive = l; state.live = null;
  $('camera').textContent = 'Start camera';
  document.body.dataset.state = 'ready';
}

function fail(e) {
  console.error(e);
  setStatus(`error: ${e.message}`, 'err');
  document.body.dataset.state = 'error';
  document.body.dataset.error = e.message;
}

function wire() {
  $('file').addEventListener('change', (e) => { if (e.target.files[0]) runPhoto(e.target.files[0]).catch(fail); });
  const stage = $('stage');
  stage.addEventListener('dragover', (e) => { e.preventDefault(); stage.classList.add('drag'); });
  stage.addEventListener('dragleave', () => stage.classList.remove('drag'));
  stage.addEventListener('drop', (e) => {
    e.preventDefault(); stage.classList.remove('drag');
    const f = e.dataTransfer.files[0];
    if (f) runPhoto(f).catch(fail);
  });
  $('camera').addEventListener('click', () => (state.live ? stopCamera() : startCamera().catch(fail)));
  $('demo').addEventListener('click', () => runPhoto('demo/group4.jpg').catch(fail));
  for (const id of ['slim', 'eyes', 'retouch', 'points']) {
    $(id).addEventListener('input', () => {
      $('slimv').textContent = Number($('slim').value).toFixed(2);
      $('eyesv').textContent = Number($('eyes').value).toFixed(2);
      redrawPhoto();
    });
  }
  if (params.has('slim')) $('slim').value = params.get('slim');
  if (params.has('eyes')) $('eyes').value = params.get('eyes');
  $('slimv').textContent = Number($('slim').value).toFixed(2);
  $('eyesv').textContent = Number($('eyes').value).toFixed(2);
}

// what the browser test drives and reads (web/scripts/test-web.mjs)
window.pipnet = {
  runPhoto, startCamera, stopCamera, liveStats, resetLiveStats, state,
  last: () => state.last,
  readPreview: () => state.renderer.read(),
  meanConf: (f) => mean(f.conf),
};

wire();
window.pipnet.ready = init().catch(fail);
