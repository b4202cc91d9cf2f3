"""Loader code for a mini program: fetch the manifest, cache, load, run once.

Each engine kind has its own template; every template goes through the same
manifest, version and cache code (``_COMMON``) and runs one inference.
Names, shapes, types and session options come from the plan and are written
as JSON literals, so any text a model holds reaches the JavaScript as a
quoted string, never as code.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from compatcheck import __version__
from compatcheck.errors import UserError
from compatcheck.findings import PlatformResult, Severity
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
# The longest typed array the loader makes (2**31 - 1, as --input-shape allows).
MAX_ELEMENTS = 2**31 - 1

# onnx2tf makes every graph input and output of rank 3, 4 and 5 channels-last
# unless told otherwise (README of https://github.com/PINTO0309/onnx2tf: "Key
# concept", and the -k / -kat options that keep a named input's shape). The
# converter profile has no fact for this, so the knowledge lives here.
CHANNELS_LAST_CONVERTERS = frozenset({"onnx2tf"})
CHANNELS_LAST = {3: "NWC", 4: "NHWC", 5: "NDHWC"}

_VERDICT_TITLES = {"pass": "PASS", "warn": "PASS WITH WARNINGS", "fail": "FAIL"}


@dataclass
class _Loader:
    """What a template fills in: the tensors as the engine receives them."""

    inputs: list[TensorContract]
    outputs: list[TensorContract]
    platform: PlatformPlan
    api: str
    model: str = ""  # the model file, for errors
    # The ONNX shape and layout of each tensor the conversion reordered.
    reordered: dict[str, str] = field(default_factory=dict)


def render_snippet(
    model_name: str,
    plan: ModelPlan,
    result: PlatformResult,
    profile: Profile,
    manifest_url: str | None,
) -> str:
    """JavaScript for ``profile``'s platform through ``result``'s chosen route.

    ``result`` must carry a platform plan (a route that reaches an engine).
    """
    if result.plan is None:
        raise ValueError(f"no platform plan for {result.platform}: nothing to load")
    engine = profile.engine(result.plan.engine)
    loader = _loader(plan, result.plan, profile.api_namespace or "wx")
    loader.model = result.model
    header = _header(model_name, result, profile, engine, manifest_url)
    body = _TEMPLATES[_kind(engine)](loader)
    return header + _COMMON.replace("API", loader.api) + body


def engine_kind(engine: Engine | None) -> str:
    """Which loader template fits ``engine``."""
    return _kind(engine)


def failing_codes(result: PlatformResult) -> list[str]:
    """The codes of the errors that fail ``result``, each once, in report order."""
    errors = (f.code for f in result.findings if f.severity is Severity.ERROR)
    return list(dict.fromkeys(errors))


def converted_shape(shape: list[int], converters: list[str]) -> list[int]:
    """``shape`` in the axis order the engine receives after ``converters``."""
    if not CHANNELS_LAST_CONVERTERS.intersection(converters):
        return list(shape)
    if len(shape) not in CHANNELS_LAST:
        return list(shape)
    return [shape[0], *shape[2:], shape[1]]


def _kind(engine: Engine | None) -> str:
    if engine is None:
        return "unknown"
    if engine.spec is not None:
        return engine.spec.id if engine.spec.id in _TEMPLATES else "unknown"
    if "onnx" in (engine.formats.value if engine.formats.known else []):
        return "onnx-session" if engine.options else "unknown"
    return "unknown"


def _loader(plan: ModelPlan, platform: PlatformPlan, api: str) -> _Loader:
    """The contract as the engine receives it, after the route's conversions."""
    loader = _Loader([], [], platform, api)
    for tensor in plan.contract.inputs:
        loader.inputs.append(_converted(tensor, platform.converters, loader))
    for tensor in plan.contract.outputs:
        loader.outputs.append(_converted(tensor, platform.converters, loader))
    return loader


def _converted(
    tensor: TensorContract, converters: list[str], loader: _Loader
) -> TensorContract:
    shape = tensor.feed_shape
    if shape is None or converted_shape(shape, converters) == shape:
        return tensor
    loader.reordered[tensor.name] = f"{shape} {tensor.layout}".rstrip()
    return dataclasses.replace(
        tensor,
        feed_shape=converted_shape(shape, converters),
        layout=CHANNELS_LAST[len(shape)],
    )


def _js(value) -> str:
    return json.dumps(value, ensure_ascii=True, allow_nan=False)


def _object(key: str, code: str, data: dict) -> str:
    """A JavaScript object literal: ``key`` holds ``code``, the rest is data.

    ``code`` comes from the templates, never from a model or a profile;
    ``data`` is written as JSON, so its text stays inside strings.
    """
    rest = {k: v for k, v in data.items() if k != key}
    entries = [f"{_js(key)}: {code}"]
    if rest and _names_proto(rest):
        # In an object literal "__proto__": sets the prototype instead of a
        # key; JSON.parse makes it a key, and spreading copies it as one.
        entries.insert(0, f"...JSON.parse({_js(_js(rest))})")
    elif rest:
        entries.append(_js(rest)[1:-1])
    return "{" + ", ".join(entries) + "}"


def _empty(tensors: list[TensorContract]) -> str:
    """An empty object to fill by tensor name.

    A tensor named ``__proto__`` would set the prototype of a plain object;
    an object without a prototype takes it as a key.
    """
    if any(t.name == "__proto__" for t in tensors):
        return "Object.create(null)"
    return "{}"


def _names_proto(value) -> bool:
    """Whether ``value`` holds a mapping with the key ``__proto__``."""
    if isinstance(value, dict):
        return "__proto__" in value or any(_names_proto(v) for v in value.values())
    if isinstance(value, list):
        return any(_names_proto(v) for v in value)
    return False


def _header(
    model_name: str,
    result: PlatformResult,
    profile: Profile,
    engine: Engine | None,
    manifest_url: str | None,
) -> str:
    plan = result.plan
    assert plan is not None  # render_snippet refuses a result without one
    base = plan.min_base_library
    lines = [
        f"// Loader for {_comment(model_name)} on {_comment(profile.title)}, "
        f"written by compatcheck {__version__}.",
        *_verdict_lines(result),
        f"// Engine: {_comment(plan.engine_title)}"
        + (f", base library {_comment(str(base))} or later." if base else "."),
    ]
    for fact in engine.requires if engine is not None else ():
        lines.append(f"// Requires: {_comment(str(fact.value))}")
    lines += _conversion_lines(result)
    lines += [
        "// Host the model and the manifest that `compatcheck manifest` writes over",
        "// HTTPS, on a domain the mini program may download from. Load the model",
        "// from the page that needs it, never at app launch.",
        "'use strict';",
        "",
        *(
            []
            if manifest_url
            else [
                "// A placeholder: put where the manifest is hosted here, or "
                "generate again with --manifest-url."
            ]
        ),
        f"const MANIFEST_URL = {_js(manifest_url or PLACEHOLDER_URL)};",
        "",
    ]
    return "\n".join(lines) + "\n"


def _verdict_lines(result: PlatformResult) -> list[str]:
    """The verdict as the report gives it; on fail, the errors to fix first."""
    counts = (
        f"{result.count(Severity.ERROR)} error(s), "
        f"{result.count(Severity.WARNING)} warning(s)"
        + (", unverified" if result.unverified else "")
    )
    lines = [
        f"// compatcheck verdict on {_comment(result.platform_title)}: "
        f"{_VERDICT_TITLES[result.verdict]} ({counts})."
    ]
    codes = failing_codes(result)
    if codes:
        lines += [
            f"// Errors: {', '.join(codes)}. This loader will not work until they "
            "are fixed;",
            "// compatcheck on the model lists them with their fixes.",
        ]
    return lines


def _conversion_lines(result: PlatformResult) -> list[str]:
    """The commands that turn the model into what the engine loads."""
    route = result.route
    if route is None or not route.converters:
        return []
    tools = _comment(" + ".join(route.converters))
    return [
        f"// The route converts the model first ({tools}); the phone downloads "
        "the result:",
        *(f"//   {_comment(command)}" for command in route.commands),
        "// Give the converted files to `compatcheck manifest` with --file.",
    ]


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
  // The version becomes a folder name: refuse anything but a plain token.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(String(manifest.version))) {
    throw new Error('bad model version in manifest: ' + manifest.version);
  }
  return String(manifest.version);
}

function checkFileName(name) {
  // A file name becomes a path in the cache: refuse one that leaves the folder.
  if (!name || name === '.' || name === '..' || /[\/\\]/.test(name)) {
    throw new Error('bad file name in manifest: ' + name);
  }
  return name;
}

function filesUrl(manifest) {
  // Where the files are hosted, ending in '/'. A manifest written without
  // --url has "url": null, and the files are then hosted beside it, in the
  // folder of MANIFEST_URL; a url naming the main file stands for its folder.
  let base = manifest.url || MANIFEST_URL.split(/[?#]/)[0].replace(/[^/]*$/, '');
  const main = '/' + manifest.files[0].name;
  if (base.endsWith(main)) {
    base = base.slice(0, -main.length);
  }
  return base.replace(/\/?$/, '/');
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
  // Each manifest version has its own folder, CACHE/model-<version>. A file
  // is downloaded when it is missing there or its size is not the manifest's
  // `bytes`. The sha256 is not checked here, only the size, so a
  // changed model needs a new version, not only a new hash.
  const folder = CACHE + '/' + folderName;
  if (sizeOf(folder) < 0) {
    fs.mkdirSync(folder, true);
  }
  const base = filesUrl(manifest);
  for (const file of manifest.files) {
    const path = folder + '/' + checkFileName(file.name);
    if (sizeOf(path) !== file.bytes) {
      await download(base + encodeURIComponent(file.name), path);
      if (sizeOf(path) !== file.bytes) {
        throw new Error('downloaded ' + file.name + ' has the wrong size');
      }
    }
  }
  removeOtherVersions(folderName);
  return folder;
}

// The manifest, its files in the version's folder, other versions deleted.
async function ensureModel() {
  const manifest = await fetchManifest();
  const version = checkVersion(manifest);
  const folder = await fetchFiles(manifest, 'model-' + version);
  return { manifest, folder };
}

"""


def _feed_lines(loader: _Loader, inputs: list[TensorContract]) -> list[str]:
    """One zero-filled typed array per input, with its preprocessing note."""
    lines = []
    for index, tensor in enumerate(inputs):
        array = TYPED_ARRAYS.get(tensor.dtype, "Float32Array")
        shape = tensor.feed_shape or [1]
        if math.prod(shape) > MAX_ELEMENTS:
            raise UserError(
                loader.model,
                f"input {tensor.name!r} has {math.prod(shape):,} elements in "
                f"shape {shape}; a "
                f"JavaScript typed array holds at most {MAX_ELEMENTS:,}: give "
                "--input-shape with the size you feed",
            )
        if tensor.feed_shape is None:
            lines.append(
                f"  // shape of {_comment(tensor.name)} is unknown: give "
                "--input-shape and generate again"
            )
        lines.append(f"  // {_describe(loader, tensor)}")
        lines.append(
            f"  const data{index} = new {array}({math.prod(shape)}); "
            "// fill with your input"
        )
    return lines


def _describe(loader: _Loader, tensor: TensorContract) -> str:
    text = f"{_comment(tensor.name)}: {_shape_note(loader, tensor)}"
    norm = tensor.normalisation or {}
    if "mean" in norm or "std" in norm:
        text += f", normalise as (x - {norm.get('mean', [0])}) / {norm.get('std', [1])}"
    if "color_space" in norm:
        text += f", {norm['color_space']}"
    return text


def _shape_note(loader: _Loader, tensor: TensorContract) -> str:
    text = f"{tensor.dtype} {tensor.feed_shape}"
    if tensor.layout:
        text += f" {tensor.layout}"
    if tensor.name in loader.reordered:
        text += f" (ONNX order: {loader.reordered[tensor.name]})"
    return text


def _layout_note(loader: _Loader) -> str:
    """Why the shapes differ from the ONNX model's, when a converter moved axes."""
    if not loader.reordered:
        return ""
    return (
        "// onnx2tf converts with its default layout: every 3-D, 4-D and 5-D input\n"
        "// and output becomes channels-last (NCW -> NWC, NCHW -> NHWC, NCDHW ->\n"
        "// NDHWC), so the shapes below are in that order. An input converted\n"
        "// with -kat NAME (onnx2tf keeps that input's ONNX shape) stays\n"
        "// channels-first: feed it in the ONNX order instead.\n"
    )


def _onnx_session(loader: _Loader) -> str:
    platform = loader.platform
    option_text = _object("model", "modelPath", platform.options)
    feeds = _feed_lines(loader, loader.inputs)
    feeds.append(f"  const feeds = {_empty(loader.inputs)};")
    for index, tensor in enumerate(loader.inputs):
        feeds.append(
            f"  feeds[{_js(tensor.name)}] = {{ shape: {_js(tensor.feed_shape or [1])}, "
            f"data: data{index}.buffer, type: {_js(tensor.dtype)} }};"
        )
    reads = [
        f"  results[{_js(t.name)}] = out[{_js(platform.output_keys.get(t.name))}];"
        f" // {_shape_note(loader, t)}"
        for t in loader.outputs
    ]
    return f"""function createSession(modelPath) {{
  return new Promise((resolve, reject) => {{
    const session = {loader.api}.createInferenceSession({option_text});
    session.onLoad(() => resolve(session));
    session.onError(reject);
  }});
}}

async function runOnce(session) {{
{chr(10).join(feeds)}
  const out = await session.run(feeds);
  const results = {_empty(loader.outputs)};
{chr(10).join(reads)}
  return results;
}}

// From the page: call loadAndRunOnce() in onLoad, session.destroy() in onUnload.
async function loadAndRunOnce() {{
  const {{ manifest, folder }} = await ensureModel();
  const session = await createSession(folder + '/' + manifest.files[0].name);
  return {{ session, results: await runOnce(session) }};
}}

module.exports = {{ ensureModel, createSession, runOnce, loadAndRunOnce }};
"""


def _tfjs(loader: _Loader) -> str:
    feeds = _feed_lines(loader, loader.inputs)
    tensors = ", ".join(
        f"tf.tensor(data{i}, {_js(t.feed_shape or [1])}, {_js(_tfjs_dtype(t.dtype))})"
        for i, t in enumerate(loader.inputs)
    )
    keys = loader.platform.output_keys
    reads = [
        f"  results[{_js(t.name)}] = list[{_js(keys.get(t.name))}]; "
        f"// {_shape_note(loader, t)}"
        for t in loader.outputs
    ]
    converted = (
        "// The converted model may name or order its inputs differently; compare\n"
        "// with model.inputs.\n"
        if loader.platform.converters
        else ""
    )
    return f"""const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-webgl');
const tfconv = require('@tensorflow/tfjs-converter');

// model.json and its weight files are read from the cache and handed to
// TensorFlow.js in memory, so it fetches nothing itself.
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

{_layout_note(loader)}{converted}async function runOnce(model) {{
{chr(10).join(feeds)}
  const inputs = [{tensors}];
  const out = await model.executeAsync(inputs);
  const list = Array.isArray(out) ? out : [out];
  const results = {_empty(loader.outputs)};
{chr(10).join(reads)}
  inputs.forEach((t) => t.dispose());
  return results;
}}

async function loadAndRunOnce() {{
  await tf.setBackend('webgl');
  const {{ folder }} = await ensureModel();
  const model = await loadModel(folder);
  return {{ model, results: await runOnce(model) }};
}}

module.exports = {{ ensureModel, loadModel, runOnce, loadAndRunOnce }};
"""


def _tfjs_dtype(dtype: str) -> str:
    return dtype if dtype in ("float32", "int32", "bool") else "float32"


def _image_dims(tensor: TensorContract | None) -> tuple[int, int, int, int]:
    """Batch, channels, height and width of an image-like input."""
    shape = (tensor.feed_shape if tensor else None) or [1, 1, 1, 1]
    if len(shape) == 4 and tensor is not None and tensor.layout == "NHWC":
        batch, height, width, channel = shape
        return batch, channel, height, width
    if len(shape) == 4:
        batch, channel, height, width = shape
        return batch, channel, height, width
    return 1, 1, 1, math.prod(shape)


def _paddlejs(loader: _Loader) -> str:
    first = loader.inputs[0] if loader.inputs else None
    # Paddle.js feeds one float32 tensor, whatever the source model's type.
    feed = dataclasses.replace(first, dtype="float32") if first else None
    _, channel, height, width = _image_dims(feed)
    config = {
        "feedShape": {"fw": width, "fh": height, "fc": channel},
        "fill": "#fff",
    }
    norm = (first.normalisation if first else None) or {}
    for key in ("mean", "std"):
        if key in norm:
            config[key] = norm[key]
    text = _object("modelObj", "readModel(folder)", config)
    feeds = _feed_lines(loader, [feed] if feed else [])
    shape = _js((feed.feed_shape if feed else None) or [1, channel, height, width])
    output = loader.outputs[0] if loader.outputs else None
    name = _js(output.name if output else "output")
    note = _shape_note(loader, output) if output else "unknown shape"
    return f"""const {{ Runner }} = require('@paddlejs/paddlejs-core');
require('@paddlejs/paddlejs-backend-webgl');

// Paddle.js's Runner takes the model as an object as well as by address
// (modelObj: model.json's content and its chunk_<n>.dat files as one
// Float32Array), so the cached files are read here and it fetches nothing.
function readModel(folder) {{
  const model = JSON.parse(fs.readFileSync(folder + '/model.json', 'utf8'));
  const chunks = [];
  for (let n = 1; n <= (model.chunkNum || 0); n += 1) {{
    chunks.push(new Float32Array(fs.readFileSync(folder + '/chunk_' + n + '.dat')));
  }}
  const params = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {{
    params.set(chunk, offset);
    offset += chunk.length;
  }}
  return {{ model, params }};
}}

async function createRunner(folder) {{
  const runner = new Runner({text});
  await runner.init();
  return runner;
}}

// paddlejs-converter renames the one input to image. runner.predict(image)
// takes an image, canvas or image data and applies mean and std itself;
// predictWithFeed takes the values as they are. A typed array must come
// wrapped as a feed ({{ data, shape }}): given bare, Paddle.js reads it as
// image data, finds no pixels and feeds an empty tensor.
async function runOnce(runner) {{
{chr(10).join(feeds)}
  const feed = [{{ name: 'image', data: data0, shape: {shape}, persistable: true }}];
  const result = await runner.predictWithFeed(feed);
  const results = {_empty(loader.outputs)};
  results[{name}] = result; // {note}
  return results;
}}

async function loadAndRunOnce() {{
  const {{ folder }} = await ensureModel();
  const runner = await createRunner(folder);
  return {{ runner, results: await runOnce(runner) }};
}}

module.exports = {{ ensureModel, createRunner, runOnce, loadAndRunOnce }};
"""


def _bytenn(loader: _Loader) -> str:
    first = loader.inputs[0] if loader.inputs else None
    batch, channel, height, width = _image_dims(first)
    data = {
        "width": width,
        "height": height,
        "channel": channel,
        "batch": batch,
        "dataType": first.dtype if first else "float32",
        "dataFormat": (first.layout if first else "") or "NCHW",
    }
    text = _object("data", "data0.buffer", data)
    feeds = _feed_lines(loader, loader.inputs[:1])
    return f"""// ByteNN is created from the name of a model registered with Douyin, not
// from a file (its typings call it the requested model's name). The loader
// asks for the manifest's main file name without its extension: convert
// with Douyin's tool, register the result under that name (sr-2.bytenn ->
// "sr-2"), and a new manifest version with a new file switches the model.
// The manifest's files are cached per version as on the other platforms;
// whether ByteNN can read them is not documented. Outside the IDE preview
// the API needs a whitelist application.
function modelName(manifest) {{
  return manifest.files[0].name.replace(/\\.[^.]*$/, '');
}}

function createEngine(name) {{
  return new Promise((resolve, reject) => {{
    const context = {loader.api}.createBytennEngineContext(name, {{}});
    context.onLoad((engine) => resolve(engine));
    context.onError(reject);
    context.load();
  }});
}}

{_layout_note(loader)}function runOnce(engine) {{
{chr(10).join(feeds)}
  // convertConfig sends each channel to itself with weight 1, factor 1 and
  // offset 0: the data reaches the model unchanged. Normalise here instead.
  const convertConfig = Array.from({{ length: {int(channel)} }}, (_, c) => ({{
    outputChannel: c,
    normalizeFactor: 1,
    offset: 0,
    inputConfig: [{{ inputChannel: c, weight: 1 }}],
  }}));
  return engine.inferSync({{ dataConfig: {text}, convertConfig }});
}}

async function loadAndRunOnce() {{
  const {{ manifest }} = await ensureModel();
  const engine = await createEngine(modelName(manifest));
  return {{ engine, results: runOnce(engine) }};
}}

module.exports = {{ ensureModel, createEngine, runOnce, loadAndRunOnce }};
"""


def _unknown(loader: _Loader) -> str:
    return (
        "// compatcheck has no loader template for this engine; the manifest and\n"
        "// cache helpers above still apply.\n"
        "module.exports = { fetchManifest, checkVersion, fetchFiles, ensureModel };\n"
    )


_TEMPLATES = {
    "onnx-session": _onnx_session,
    "tfjs": _tfjs,
    "paddlejs": _paddlejs,
    "bytenn": _bytenn,
    "unknown": _unknown,
}
