// Build the static page into web/dist: the page's own files, the onnxruntime-web runtime and its
// wasm files (from node_modules, installed from package-lock.json), the two networks and the demo
// photo from the Python package's assets. No bundler: the page is plain ES modules with an import map.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO = path.resolve(WEB, '..');
const DIST = path.join(WEB, 'dist');
const ORT = path.join(WEB, 'node_modules', 'onnxruntime-web', 'dist');
// the runtime entry and the wasm builds it loads: plain (wasm EP) and jsep/asyncify (WebGPU EP)
const ORT_FILES = ['ort.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm',
  'ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm',
  'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

/** The package's assets folder: the one holding starter.onnx under src/pipnet106 (wherever a
 *  restructure puts it). */
export function findAssets(root = path.join(REPO, 'src', 'pipnet106')) {
  const direct = path.join(root, 'assets');
  if (fs.existsSync(path.join(direct, 'starter.onnx'))) return direct;
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === '__pycache__') continue;
    const found = findAssets(path.join(root, e.name));
    if (found) return found;
  }
  return null;
}

function copy(src, dst) {
  if (!fs.existsSync(src)) throw new Error(`${src}: missing (run npm ci in web/ first?)`);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.copyFileSync(src, dst);
}

export function build() {
  const assets = findAssets();
  if (!assets) throw new Error('starter.onnx not found under src/pipnet106');
  fs.rmSync(DIST, { recursive: true, force: true });
  for (const f of ['index.html', 'style.css']) copy(path.join(WEB, f), path.join(DIST, f));
  for (const f of fs.readdirSync(path.join(WEB, 'src'))) copy(path.join(WEB, 'src', f), path.join(DIST, 'src', f));
  for (const f of ORT_FILES) copy(path.join(ORT, f), path.join(DIST, 'ort', f));
  const pkg = JSON.parse(fs.readFileSync(path.join(WEB, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8'));
  fs.writeFileSync(path.join(DIST, 'ort', 'NOTICE.txt'), `onnxruntime-web ${pkg.version}, ${pkg.license} license, (c) Microsoft Corporation (npm package ${pkg.name}).\n`);
  for (const f of ['starter.onnx', 'blazeface_full.onnx', 'NOTICE-mediapipe.txt']) copy(path.join(assets, f), path.join(DIST, 'models', f));
  for (const f of ['group4.jpg', 'LICENSE-photos.txt']) copy(path.join(assets, 'demo', f), path.join(DIST, 'demo', f));
  return DIST;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(`built ${path.relative(process.cwd(), build()) || '.'}`);
  } catch (e) {
    console.error(`build: ${e.message}`);
    process.exit(2);
  }
}
