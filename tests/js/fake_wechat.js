// A stand-in for the WeChat runtime, enough to run a loader written by
// `compatcheck snippet` under Node: the network is a local folder, the user
// data folder is a temporary one, and the inference session records what it
// is given. Usage: node fake_wechat.js SNIPPET.js
// Environment: MANIFEST (file), SERVED (folder of hosted files), CACHE.
'use strict';

const fs = require('fs');
const path = require('path');

const seen = { downloads: [], sessionOptions: null, feeds: null };

function fileSystem() {
  return {
    statSync: (p) => fs.statSync(p),
    readdirSync: (p) => fs.readdirSync(p),
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

globalThis.wx = {
  env: { USER_DATA_PATH: process.env.CACHE },
  getFileSystemManager: fileSystem,
  request: ({ success }) => {
    setImmediate(() => success({ data: JSON.parse(fs.readFileSync(process.env.MANIFEST, 'utf8')) }));
  },
  downloadFile: ({ url, filePath, success }) => {
    seen.downloads.push(url);
    fs.copyFileSync(path.join(process.env.SERVED, path.basename(url)), filePath);
    setImmediate(() => success({ statusCode: 200 }));
  },
  createInferenceSession: (options) => {
    seen.sessionOptions = options;
    const handlers = {};
    const session = {
      onLoad: (cb) => { handlers.load = cb; },
      onError: (cb) => { handlers.error = cb; },
      run: async (feeds) => {
        seen.feeds = {};
        for (const [name, tensor] of Object.entries(feeds)) {
          seen.feeds[name] = { shape: tensor.shape, type: tensor.type, bytes: tensor.data.byteLength };
        }
        const out = {};
        for (const name of JSON.parse(fs.readFileSync(process.env.MANIFEST, 'utf8')).outputs.map((o) => o.name)) {
          out[name] = { shape: [], data: new ArrayBuffer(0), type: 'float32' };
        }
        return out;
      },
    };
    setImmediate(() => (fs.existsSync(options.model) ? handlers.load() : handlers.error(new Error('no model'))));
    return session;
  },
};

const loader = require(path.resolve(process.argv[2]));
loader.loadAndRunOnce().then(({ results }) => {
  seen.results = Object.keys(results).filter((k) => results[k] !== undefined);
  seen.cache = fs.readdirSync(process.env.CACHE).sort();
  process.stdout.write(JSON.stringify(seen));
}, (err) => {
  process.stderr.write(String(err && err.stack || err));
  process.exit(1);
});
