// A stand-in for the WeChat runtime, enough to run a loader written by
// `compatcheck snippet` under Node: the network is a local folder, the user
// data folder is a temporary one, and the engine records what it is given.
// With API set to my, swan or tt it stands in for the other hosts the same
// way, with TensorFlow.js, Paddle.js and ByteNN replaced by recorders.
// Usage: node fake_wechat.js SNIPPET.js
// Environment: MANIFEST (file), SERVED (folder of hosted files), CACHE, API.
'use strict';

const fs = require('fs');
const Module = require('module');
const path = require('path');

const seen = { requests: [], downloads: [], feeds: null };

function manifest() {
  return JSON.parse(fs.readFileSync(process.env.MANIFEST, 'utf8'));
}

function record(name, shape, type, bytes) {
  seen.feeds = seen.feeds || Object.create(null); // "__proto__" is a name too
  seen.feeds[name] = { shape, type, bytes };
}

function fileSystem() {
  return {
    statSync: (p) => fs.statSync(p),
    readdirSync: (p) => fs.readdirSync(p),
    // As on the hosts: a string with an encoding, an ArrayBuffer without.
    readFileSync: (p, encoding) => {
      if (encoding) {
        return fs.readFileSync(p, encoding);
      }
      const bytes = fs.readFileSync(p);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    },
    unlinkSync: (p) => {
      if (fs.statSync(p).isDirectory()) {
        throw new Error('is a folder');
      }
      fs.unlinkSync(p);
    },
    rmdirSync: (p, recursive) => fs.rmSync(p, { recursive: Boolean(recursive) }),
    mkdirSync: (p, recursive) => fs.mkdirSync(p, { recursive: Boolean(recursive) }),
  };
}

function createInferenceSession(options) {
  seen.sessionOptions = options;
  const handlers = {};
  const session = {
    onLoad: (cb) => { handlers.load = cb; },
    onError: (cb) => { handlers.error = cb; },
    run: async (feeds) => {
      for (const [name, tensor] of Object.entries(feeds)) {
        record(name, tensor.shape, tensor.type, tensor.data.byteLength);
      }
      const out = {};
      for (const output of manifest().outputs) {
        out[output.name] = { shape: [], data: new ArrayBuffer(0), type: 'float32' };
      }
      return out;
    },
  };
  setImmediate(() => (fs.existsSync(options.model) ? handlers.load() : handlers.error(new Error('no model'))));
  return session;
}

function createBytennEngineContext(modelName) {
  seen.modelName = modelName;
  const handlers = {};
  const engine = {
    inferSync: ({ dataConfig, convertConfig }) => {
      const { data, ...rest } = dataConfig;
      seen.dataConfig = rest;
      seen.convertConfig = convertConfig;
      record('data', [rest.batch, rest.channel, rest.height, rest.width], rest.dataType, data.byteLength);
      return {};
    },
  };
  return {
    onLoad: (cb) => { handlers.load = cb; },
    onError: (cb) => { handlers.error = cb; },
    load: () => setImmediate(() => handlers.load(engine)),
  };
}

globalThis[process.env.API || 'wx'] = {
  env: { USER_DATA_PATH: process.env.CACHE },
  getFileSystemManager: fileSystem,
  request: ({ url, success }) => {
    seen.requests.push(url);
    setImmediate(() => success({ data: manifest() }));
  },
  downloadFile: ({ url, filePath, success }) => {
    seen.downloads.push(url);
    fs.copyFileSync(path.join(process.env.SERVED, decodeURIComponent(path.basename(url))), filePath);
    setImmediate(() => success({ statusCode: 200 }));
  },
  createInferenceSession,
  createBytennEngineContext,
};

// TensorFlow.js: tensors keep their data, the graph model records its inputs.
const tf = {
  tensor: (data, shape, dtype) => ({ data, shape, dtype, dispose: () => {} }),
  setBackend: async (name) => { seen.backend = name; return true; },
  io: { fromMemory: (artifacts) => ({ load: async () => artifacts }) },
};
const tfconv = {
  loadGraphModel: async (handler) => {
    const artifacts = await handler.load();
    seen.weightBytes = artifacts.weightData.byteLength;
    return {
      executeAsync: async (inputs) => {
        inputs.forEach((t, i) => record(String(i), t.shape, t.dtype, t.data.byteLength));
        return manifest().outputs.map(() => tf.tensor(new Float32Array(0), [0], 'float32'));
      },
    };
  },
};

// Paddle.js: the runner records its configuration and the fed values.
class Runner {
  constructor(config) {
    this.config = config;
  }

  async init() {
    const { modelObj, ...rest } = this.config;
    seen.runnerConfig = rest;
    seen.paramValues = modelObj.params.length;
  }

  // Paddle.js's Runner reads its first argument three ways: an array whose first
  // item has `data` is a ready feed, any other array is the values, and
  // anything else is image data ({ width, height, data }). Only the first two
  // carry a typed array through; a bare typed array becomes an empty feed.
  async predictWithFeed(data, callback, shape) {
    let feed;
    if (Array.isArray(data) && data[0] && data[0].data) {
      feed = data[0];
    } else if (Array.isArray(data)) {
      feed = { data: new Float32Array(data), shape };
    } else {
      throw new Error('predictWithFeed was given image data, not a feed');
    }
    const values = feed.data instanceof Float32Array ? feed.data : new Float32Array(feed.data);
    record(feed.name || 'image', feed.shape, values.constructor.name, values.byteLength);
    const result = new Float32Array(0);
    return callback ? callback(result) : result;
  }
}

const FAKE_MODULES = {
  '@tensorflow/tfjs-core': tf,
  '@tensorflow/tfjs-backend-webgl': {},
  '@tensorflow/tfjs-converter': tfconv,
  '@paddlejs/paddlejs-core': { Runner },
  '@paddlejs/paddlejs-backend-webgl': {},
};
const realLoad = Module._load;
Module._load = function load(request, ...rest) {
  if (Object.prototype.hasOwnProperty.call(FAKE_MODULES, request)) {
    return FAKE_MODULES[request];
  }
  return realLoad.call(this, request, ...rest);
};

function listing(folder) {
  const found = {};
  for (const name of fs.readdirSync(folder).sort()) {
    const full = path.join(folder, name);
    found[name] = fs.statSync(full).isDirectory() ? fs.readdirSync(full).sort() : null;
  }
  return found;
}

const loader = require(path.resolve(process.argv[2]));
loader.loadAndRunOnce().then(({ results }) => {
  seen.results = Object.keys(results).filter((k) => results[k] !== undefined);
  seen.cache = Object.keys(listing(process.env.CACHE));
  seen.cached = listing(process.env.CACHE);
  process.stdout.write(JSON.stringify(seen));
}, (err) => {
  process.stderr.write(String(err && err.stack || err));
  process.exit(1);
});
