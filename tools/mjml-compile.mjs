#!/usr/bin/env node
// Compile MJML documents with the reference compiler from npm (mjml 4.18 or mjml 5), so the
// Python test suite (tests/fidelity) and bench/mjml_compare.py can compare mjml-python
// (MRML) against it. One node process compiles many documents.
//
// Usage:
//   node tools/mjml-compile.mjs [--major 4|5] [FILE.mjml ...]
//
// With files: prints one JSON object per file, one per line:
//   {"id": "FILE.mjml", "html": "...", "errors": [...], "ms": 1.23}
// Without files: reads JSON lines from stdin, each either a string (the MJML) or an object
//   {"id": any, "mjml": "...", "options": {...}, "repeat": N}
// and answers each line as soon as it is compiled, in order, with one JSON line:
//   {"id": ..., "version": "4.18.0", "html": "...", "errors": [...], "ms": [t1, ...]}
// `ms` holds the compile time of each of the `repeat` compilations (default 1), measured
// inside this process, so a caller measures compile cost and not node start-up or IPC.
// A document that fails to compile answers {"id": ..., "error": "message"} and the process
// goes on. `options` are passed to mjml2html over the defaults below, which match how
// newsletter/rendering/mjml.py calls mjml-python (no comments kept, no beautify/minify).
//
// mjml 4's mjml2html returns {html, errors}; mjml 5's returns a Promise of it: both work.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

const require = createRequire(import.meta.url);

const PACKAGES = { 4: "mjml", 5: "mjml5" }; // mjml5 is the npm alias of mjml@^5 (package.json)
const DEFAULTS = {
  keepComments: false,
  beautify: false,
  minify: false,
  validationLevel: "soft",
};

function parseArgs(argv) {
  let major = "4";
  const files = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--major") {
      major = argv[(i += 1)];
    } else if (arg.startsWith("--major=")) {
      major = arg.slice("--major=".length);
    } else if (arg === "-h" || arg === "--help") {
      process.stdout.write("usage: node tools/mjml-compile.mjs [--major 4|5] [FILE.mjml ...]\n");
      process.exit(0);
    } else {
      files.push(arg);
    }
  }
  if (!(major in PACKAGES)) {
    process.stderr.write(`--major must be 4 or 5, not ${JSON.stringify(major)}\n`);
    process.exit(2);
  }
  return { major, files };
}

function loadCompiler(major) {
  const name = PACKAGES[major];
  let mjml2html;
  let version;
  try {
    const mod = require(name);
    mjml2html = typeof mod === "function" ? mod : mod.default;
    version = require(`${name}/package.json`).version;
  } catch (error) {
    process.stderr.write(
      `cannot load ${name} (${error.message}): run \`npm ci\` at the repository root\n`,
    );
    process.exit(3);
  }
  if (!String(version).startsWith(`${major}.`)) {
    process.stderr.write(`${name} is version ${version}, expected ${major}.x\n`);
    process.exit(3);
  }
  return { mjml2html, version };
}

async function compile(compiler, request) {
  const { mjml, options = {}, repeat = 1 } = request;
  const merged = { ...DEFAULTS, ...options };
  const times = [];
  let result;
  for (let i = 0; i < Math.max(1, repeat); i += 1) {
    const start = performance.now();
    // mjml 4: a {html, errors} object; mjml 5: a Promise of it.
    result = await Promise.resolve(compiler.mjml2html(mjml, merged));
    times.push(performance.now() - start);
  }
  const errors = (result.errors || []).map((e) => e.formattedMessage || e.message || String(e));
  return { html: result.html, errors, ms: times };
}

function write(obj) {
  return new Promise((resolve) => {
    if (process.stdout.write(`${JSON.stringify(obj)}\n`)) resolve();
    else process.stdout.once("drain", resolve);
  });
}

async function answer(compiler, id, request) {
  try {
    const out = await compile(compiler, request);
    await write({ id, version: compiler.version, ...out });
  } catch (error) {
    await write({ id, version: compiler.version, error: String(error?.message || error) });
  }
}

async function main() {
  const { major, files } = parseArgs(process.argv.slice(2));
  const compiler = loadCompiler(major);
  if (files.length) {
    for (const file of files) {
      await answer(compiler, file, { mjml: readFileSync(file, "utf8") });
    }
    return;
  }
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let request;
    try {
      request = JSON.parse(line);
    } catch (error) {
      await write({ id: null, error: `not a JSON line: ${error.message}` });
      continue;
    }
    if (typeof request === "string") request = { mjml: request };
    await answer(compiler, request.id ?? null, request);
  }
}

await main();
