// The two networks, run by onnxruntime-web: the landmark model (a `pipnet106 export` file) and
// BlazeFace. `ort` is passed in (the page imports the copy served with it; Node's dev scripts the
// npm package), so the pipeline modules never load anything from the network themselves.

const LANDMARK_FORMAT = 'pipnet106-onnx';
const REQUIRED_META = ['layout', 'input_size', 'crop_enlarge', 'num_points', 'input_format'];

/** metadata_props of an ONNX file (ModelProto field 14), read from its bytes: onnxruntime-web
 *  does not expose them, and the crop rule (input_size, crop_enlarge) and the training data's
 *  terms live there. */
export function onnxMetadata(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const meta = {};
  let pos = 0;
  const varint = () => {
    let v = 0, mul = 1, b;
    do { b = u8[pos++]; v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    return v;
  };
  const text = new TextDecoder();
  while (pos < u8.length) {
    const tag = varint(), field = Math.floor(tag / 8), wire = tag & 7;
    if (wire === 0) { varint(); continue; }
    if (wire === 1) { pos += 8; continue; }
    if (wire === 5) { pos += 4; continue; }
    if (wire !== 2) throw new Error(`not an ONNX file (wire type ${wire} at byte ${pos})`);
    const len = varint(), end = pos + len;
    if (field === 14) {  // StringStringEntryProto {key = 1, value = 2}
      let key = '', value = '';
      while (pos < end) {
        const t = varint(), l = varint(), s = text.decode(u8.subarray(pos, pos + l));
        pos += l;
        if (t >> 3 === 1) key = s; else if (t >> 3 === 2) value = s;
      }
      meta[key] = value;
    }
    pos = end;
  }
  return meta;
}

/** Check a landmark model's metadata as backends.OnnxBackend does; returns it. */
export function checkLandmarkMeta(meta, name) {
  if (meta.format !== LANDMARK_FORMAT) throw new Error(`${name}: not a pipnet106 ONNX export (make one with \`pipnet106 export\`)`);
  const missing = REQUIRED_META.filter((k) => !(k in meta));
  if (missing.length) throw new Error(`${name}: pipnet106 ONNX metadata lacks ${missing.join(', ')}; re-export the model`);
  if (meta.input_format !== 'uint8_nhwc_bgr') throw new Error(`${name}: this page takes uint8_nhwc_bgr exports, not ${meta.input_format}`);
  if (meta.layout !== 'lapa106') throw new Error(`${name}: the page draws and retouches lapa106 points, not ${meta.layout}`);
  return meta;
}

/** Sessions for both networks from their bytes; `ep`: 'wasm' or 'webgpu'. Returns the two
 *  functions the pipeline calls and the landmark model's metadata. */
export async function createModels(ort, landmarkBytes, detectorBytes, { ep = 'wasm', name = 'starter.onnx' } = {}) {
  const meta = checkLandmarkMeta(onnxMetadata(landmarkBytes), name);
  const opts = { executionProviders: [ep], graphOptimizationLevel: 'all' };
  const lm = await ort.InferenceSession.create(new Uint8Array(landmarkBytes), opts);
  const det = await ort.InferenceSession.create(new Uint8Array(detectorBytes), opts);
  const S = Number(meta.input_size);
  const landmarks = async (batch, B) => {
    const out = await lm.run({ [lm.inputNames[0]]: new ort.Tensor('uint8', batch, [B, S, S, 3]) });
    return { points: out.points.data, conf: out.conf.data };
  };
  const detector = async (x) => {
    const size = Math.round(Math.sqrt(x.length / 3));
    const out = await det.run({ image: new ort.Tensor('float32', x, [1, 3, size, size]) });
    return { reg: out.regressors.data, scores: out.scores.data };
  };
  return { landmarks, detector, meta, sessions: [lm, det] };
}
