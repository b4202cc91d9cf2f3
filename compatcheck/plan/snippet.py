"""Loader code for a mini program: fetch the manifest, cache, load, run once.

Each engine kind has its own template. Names, shapes, types and session
options come from the plan and are written as JSON literals, so any text a
model holds reaches the JavaScript as a quoted string, never as code.
"""

from __future__ import annotations

import json
import math

from compatcheck import __version__
from compatcheck.plan import ModelPlan, PlatformPlan
from compatcheck.plan.contract import TensorContract
from compatcheck.profiles.model import Engine, Profile

# Typed arrays for the element types a tensor can cross into JavaScript in.
TYPED_ARRAYS = {
    "float32": "Float32Array",
    "int32": "Int32Array",
    "uint32": "Uint32Array",
    "int8": "Int8Array",
    "uint8": "Uint8Array",
    "int16": "Int16Array",
    "uint16": "Uint16Array",
    "float64": "Float64Array",
    "int64": "BigInt64Array",
    "uint64": "BigUint64Array",
    "bool": "Uint8Array",
}
PLACEHOLDER_URL = "https://example.com/models/manifest.json"


def render_snippet(
    model_name: str,
    plan: ModelPlan,
    platform_plan: PlatformPlan,
    profile: Profile,
    manifest_url: str | None,
) -> str:
    """JavaScript for ``profile``'s platform and the plan's engine."""
    engine = profile.engine(platform_plan.engine)
    kind = _kind(engine)
    header = _header(model_name, platform_plan, profile, engine, manifest_url)
    body = _TEMPLATES[kind](plan, platform_plan, profile, engine)
    return header + _COMMON.replace("API", profile.api_namespace or "wx") + body


def engine_kind(engine: Engine | None) -> str:
    """Which loader template fits ``engine``."""
    return _kind(engine)


def _kind(engine: Engine | None) -> str:
    if engine is None:
        return "unknown"
    if engine.spec is not None:
        return engine.spec.id if engine.spec.id in _TEMPLATES else "unknown"
    if "onnx" in (engine.formats.value if engine.formats.known else []):
        return "onnx-session" if engine.options else "unknown"
    return "unknown"


def _js(value) -> str:
    return json.dumps(value, ensure_ascii=True)


def _header(
    model_name: str,
    plan: PlatformPlan,
    profile: Profile,
    engine: Engine | None,
    manifest_url: str | None,
) -> str:
    lines = [
        f"// Loader for {_comment(model_name)} on {_comment(profile.title)}, "
        f"written by compatcheck {__version__}.",
        f"// Engine: {_comment(plan.engine_title)}"
        + (
            f", base library {plan.min_base_library} or later."
            if plan.min_base_library
            else "."
        ),
    ]
    for fact in engine.requires if engine is not None else ():
        lines.append(f"// Requires: {_comment(str(fact.value))}")
    lines += [
        "// Host the model and the manifest that `compatcheck manifest` writes over",
        "// HTTPS, on a domain the mini program may download from. Load the model",
        "// from the page that needs it, never at app launch.",
        "'use strict';",
        "",
        f"const MANIFEST_URL = {_js(manifest_url or PLACEHOLDER_URL)};",
        "",
    ]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """Text for a // comment: one line, no control characters."""
    return "".join(c if c.isprintable() else " " for c in text)


# Shared by every template: the manifest, a safe version, the cache folder.
_COMMON = r"""const fs = API.getFileSystemManager();
const CACHE = API.env.USER_DATA_PATH;

function fetchManifest() {
  return new Promise((resolve, reject) => {
    API.request({
      url: MANIFEST_URL,
      dataType: 'json',
      success: (res) => resolve(res.data),
      fail: reject,
    });
  });
}

function checkVersion(manifest) {
  // The version becomes a file name: refuse anything but a plain token.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(String(manifest.version))) {
    throw new Error('bad model version in manifest: ' + manifest.version);
  }
  return String(manifest.version);
}

function download(url, filePath) {
  return new Promise((resolve, reject) => {
    API.downloadFile({
      url,
      filePath,
      success: (res) => (res.statusCode === 200
        ? resolve(filePath)
        : reject(new Error('HTTP ' + res.statusCode + ' for ' + url))),
      fail: reject,
    });
  });
}

function sizeOf(path) {
  try {
    return fs.statSync(path).size;
  } catch (err) {
    return -1;
  }
}

function removeOtherVersions(keep) {
  for (const name of fs.readdirSync(CACHE)) {
    if (name.startsWith('model-') && name !== keep) {
      const path = CACHE + '/' + name;
      try {
        fs.unlinkSync(path);
      } catch (err) {
        fs.rmdirSync(path, true);
      }
    }
  }
}

async function fetchFiles(manifest, folderName) {
  // Download each file of the manifest into CACHE/folderName unless a file
  // of the right size is already there.
  const folder = CACHE + '/' + folderName;
  if (sizeOf(folder) < 0) {
    fs.mkdirSync(folder, true);
  }
  for (const file of manifest.files) {
    const path = folder + '/' + file.name;
    if (sizeOf(path) !== file.bytes) {
      await download(manifest.url.replace(/\/?$/, '/') + file.name, path);
      if (sizeOf(path) !== file.bytes) {
        throw new Error('downloaded ' + file.name + ' has the wrong size');
      }
    }
  }
  removeOtherVersions(folderName);
  return folder;
}

"""


def _feed_lines(inputs: list[TensorContract], indent: str) -> list[str]:
    """One zero-filled typed array per input, with its preprocessing note."""
    lines = []
    for index, tensor in enumerate(inputs):
        array = TYPED_ARRAYS.get(tensor.dtype, "Float32Array")
        shape = tensor.feed_shape or [1]
        if tensor.feed_shape is None:
            lines.append(
                f"{indent}// shape of {_comment(tensor.name)} is unknown: give "
                "--input-shape and generate again"
            )
        lines.append(f"{indent}// {_describe(tensor)}")
        lines.append(
            f"{indent}const data{index} = new {array}({math.prod(shape)}); "
            "// fill with your input"
        )
    return lines


def _describe(tensor: TensorContract) -> str:
    text = f"{_comment(tensor.name)}: {tensor.dtype} {tensor.feed_shape}"
    if tensor.layout:
        text += f" {tensor.layout}"
    norm = tensor.normalisation or {}
    if "mean" in norm or "std" in norm:
        text += f", normalise as (x - {norm.get('mean', [0])}) / {norm.get('std', [1])}"
    if "color_space" in norm:
        text += f", {norm['color_space']}"
    return text


def _onnx_session(
    plan: ModelPlan, platform: PlatformPlan, profile: Profile, engine: Engine
) -> str:
    api = profile.api_namespace or "wx"
    options = {"model": "__MODEL_PATH__", **platform.options}
    option_text = _js(options).replace('"__MODEL_PATH__"', "modelPath")
    inputs, outputs = plan.contract.inputs, plan.contract.outputs
    feeds = _feed_lines(inputs, "  ")
    feeds.append("  const feeds = {};")
    for index, tensor in enumerate(inputs):
        feeds.append(
            f"  feeds[{_js(tensor.name)}] = {{ shape: {_js(tensor.feed_shape or [1])}, "
            f"data: data{index}.buffer, type: {_js(tensor.dtype)} }};"
        )
    reads = [
        f"  results[{_js(t.name)}] = out[{_js(platform.output_keys.get(t.name))}];"
        f" // {t.dtype} {t.feed_shape}"
        for t in outputs
    ]
    return f"""async function ensureModel() {{
  const manifest = await fetchManifest();
  const version = checkVersion(manifest);
  const folder = await fetchFiles(manifest, 'model-' + version);
  return folder + '/' + manifest.files[0].name;
}}

function createSession(modelPath) {{
  return new Promise((resolve, reject) => {{
    const session = {api}.createInferenceSession({option_text});
    session.onLoad(() => resolve(session));
    session.onError(reject);
  }});
}}

async function runOnce(session) {{
{chr(10).join(feeds)}
  const out = await session.run(feeds);
  const results = {{}};
{chr(10).join(reads)}
  return results;
}}

// From the page: call loadAndRunOnce() in onLoad, session.destroy() in onUnload.
async function loadAndRunOnce() {{
  const session = await createSession(await ensureModel());
  return {{ session, results: await runOnce(session) }};
}}

module.exports = {{ ensureModel, createSession, runOnce, loadAndRunOnce }};
"""


def _tfjs(plan: ModelPlan, platform: PlatformPlan, profile: Profile, engine) -> str:
    inputs, outputs = plan.contract.inputs, plan.contract.outputs
    feeds = _feed_lines(inputs, "  ")
    tensors = ", ".join(
        f"tf.tensor(data{i}, {_js(t.feed_shape or [1])}, {_js(_tfjs_dtype(t.dtype))})"
        for i, t in enumerate(inputs)
    )
    reads = [
        f"  results[{_js(t.name)}] = list[{_js(platform.output_keys.get(t.name))}]; "
        f"// {t.dtype} {t.feed_shape}"
        for t in outputs
    ]
    converted = (
        "// The converted model may order, name or lay out its inputs differently\n"
        "// (onnx2tf writes 4-D inputs as NHWC); compare with model.inputs.\n"
        if platform.converters
        else ""
    )
    return f"""const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-webgl');
const tfconv = require('@tensorflow/tfjs-converter');

async function ensureModel() {{
  // manifest.url is the folder holding model.json and its weight files.
  const manifest = await fetchManifest();
  const version = checkVersion(manifest);
  return fetchFiles(manifest, 'model-' + version);
}}

function loadModel(folder) {{
  const json = JSON.parse(fs.readFileSync(folder + '/model.json', 'utf8'));
  const specs = [];
  const parts = [];
  for (const group of json.weightsManifest) {{
    for (const path of group.paths) {{
      parts.push(new Uint8Array(fs.readFileSync(folder + '/' + path)));
    }}
    specs.push(...group.weights);
  }}
  const weights = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {{
    weights.set(part, offset);
    offset += part.length;
  }}
  return tfconv.loadGraphModel(tf.io.fromMemory({{
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData: weights.buffer,
  }}));
}}

{converted}async function runOnce(model) {{
{chr(10).join(feeds)}
  const inputs = [{tensors}];
  const out = await model.executeAsync(inputs);
  const list = Array.isArray(out) ? out : [out];
  const results = {{}};
{chr(10).join(reads)}
  inputs.forEach((t) => t.dispose());
  return results;
}}

async function loadAndRunOnce() {{
  await tf.setBackend('webgl');
  const model = await loadModel(await ensureModel());
  return {{ model, results: await runOnce(model) }};
}}

module.exports = {{ ensureModel, loadModel, runOnce, loadAndRunOnce }};
"""


def _tfjs_dtype(dtype: str) -> str:
    return dtype if dtype in ("float32", "int32", "bool") else "float32"


def _paddlejs(plan: ModelPlan, platform: PlatformPlan, profile: Profile, engine) -> str:
    first = plan.contract.inputs[0] if plan.contract.inputs else None
    shape = (first.feed_shape if first else None) or [1, 3, 1, 1]
    height, width = (shape[-2], shape[-1]) if len(shape) >= 2 else (1, 1)
    norm = (first.normalisation if first else None) or {}
    config = {
        "modelPath": "__MODEL_URL__",
        "fileCount": "__FILE_COUNT__",
        "feedShape": {"fw": width, "fh": height},
        "fill": "#fff",
    }
    for key in ("mean", "std"):
        if key in norm:
            config[key] = norm[key]
    text = (
        _js(config)
        .replace('"__MODEL_URL__"', "modelUrl")
        .replace('"__FILE_COUNT__"', "fileCount")
    )
    output = plan.contract.outputs[0] if plan.contract.outputs else None
    note = f"{output.dtype} {output.feed_shape}" if output else "unknown shape"
    return f"""const {{ Runner }} = require('@paddlejs/paddlejs-core');
require('@paddlejs/paddlejs-backend-webgl');

// Paddle.js fetches model.json and its chunk_*.dat files itself; the
// version in the address keeps an old cached copy from being used.
async function createRunner() {{
  const manifest = await fetchManifest();
  const version = checkVersion(manifest);
  const folder = manifest.url.replace(/\\/?$/, '/');
  const modelUrl = folder + 'model.json?v=' + version;
  const fileCount = manifest.files.length - 1;
  const runner = new Runner({text});
  await runner.init();
  return runner;
}}

// Paddle.js takes one image (an image, canvas or image data) and resizes it.
async function runOnce(runner, image) {{
  const result = await runner.predict(image);
  return {{ {_js(output.name if output else "output")}: result }}; // {note}
}}

module.exports = {{ createRunner, runOnce, removeOtherVersions }};
"""


def _bytenn(plan: ModelPlan, platform: PlatformPlan, profile: Profile, engine) -> str:
    first = plan.contract.inputs[0] if plan.contract.inputs else None
    shape = (first.feed_shape if first else None) or [1, 1, 1, 1]
    layout = (first.layout if first else "") or "NCHW"
    if len(shape) == 4 and layout == "NHWC":
        batch, height, width, channel = shape
    elif len(shape) == 4:
        batch, channel, height, width = shape
    else:
        batch, channel, height, width = 1, 1, 1, math.prod(shape)
    config = {
        "data": "__DATA__",
        "width": width,
        "height": height,
        "channel": channel,
        "batch": batch,
        "dataType": first.dtype if first else "float32",
        "dataFormat": layout,
    }
    text = _js(config).replace('"__DATA__"', "data0.buffer")
    api = profile.api_namespace or "tt"
    feeds = _feed_lines(plan.contract.inputs[:1], "  ")
    return f"""// ByteNN loads a model registered with Douyin by name, not a file: the
// manifest's `model.source` stands for that name. Outside the IDE preview
// the API needs a whitelist application.
function createEngine(modelName) {{
  return new Promise((resolve, reject) => {{
    const context = {api}.createBytennEngineContext(modelName, {{}});
    context.onLoad((engine) => resolve(engine));
    context.onError(reject);
    context.load();
  }});
}}

function runOnce(engine) {{
{chr(10).join(feeds)}
  return engine.inferSync({{ dataConfig: {text} }});
}}

async function loadAndRunOnce() {{
  const manifest = await fetchManifest();
  checkVersion(manifest);
  const engine = await createEngine(manifest.model.source);
  return {{ engine, results: runOnce(engine) }};
}}

module.exports = {{ createEngine, runOnce, loadAndRunOnce }};
"""


def _unknown(plan: ModelPlan, platform: PlatformPlan, profile: Profile, engine) -> str:
    return (
        "// compatcheck has no loader template for this engine; the manifest and\n"
        "// cache helpers above still apply.\n"
        "module.exports = { fetchManifest, checkVersion, fetchFiles };\n"
    )


_TEMPLATES = {
    "onnx-session": _onnx_session,
    "tfjs": _tfjs,
    "paddlejs": _paddlejs,
    "bytenn": _bytenn,
    "unknown": _unknown,
}
