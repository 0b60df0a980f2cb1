// What the client tests share: the checks that skip them (exit 77) or fail them
// under CI=true when their packages or the binary are missing, and `entropix
// serve` on the demo model, started on a free loopback port and stopped. Not a
// test itself (ctest registers *.test.mjs only).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));
const SKIP = 77;

export const sourceDir = process.env.ENTROPIX_SOURCE_DIR ?? path.join(here, '..', '..');
export const demoModel = path.join(sourceDir, 'models', 'demo', 'demo-q8_0.gguf');

// Exits the test file (1 under CI=true, else 77: skipped) unless every package
// in `packages` is installed in tests/node and ENTROPIX_BINARY is a file.
export function requirePackagesAndBinary(test, packages) {
  const exit = (why) => {
    if (process.env.CI === 'true') {
      console.error(`FAIL ${test}: ${why}`);
      process.exit(1);
    }
    console.log(`SKIPPED ${test}: ${why}`);
    process.exit(SKIP);
  };
  const missing = packages.filter((p) => !existsSync(path.join(here, 'node_modules', ...p.split('/'))));
  if (missing.length)
    exit(`${missing.join(', ')} not installed in ${here} (run: npm ci --prefix tests/node, or bash scripts/setup.sh)`);
  const binary = process.env.ENTROPIX_BINARY;
  if (!binary || !existsSync(binary)) exit(`ENTROPIX_BINARY (${binary}) is not a built entropix binary (run through ctest)`);
  return binary;
}

// `entropix serve` on a free loopback port, read back from its ready line;
// resolves to { proc, port, baseURL } (baseURL ends in /v1).
export function startServer(binary, args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, ['serve', '-m', demoModel, '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`entropix serve did not start:\n${log}`)), 60000);
    proc.stderr.on('data', (data) => {
      log += data;
      const m = log.match(/on http:\/\/[^:]+:(\d+) /);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]), baseURL: `http://127.0.0.1:${m[1]}/v1` });
      }
    });
    proc.on('exit', (code) => reject(new Error(`entropix serve exited with ${code}:\n${log}`)));
  });
}

export async function stopServer(server) {
  if (!server) return;
  const exited = new Promise((resolve) => server.proc.once('exit', resolve));
  server.proc.kill('SIGTERM');
  await exited;
}

// A fetch that records every request's method, path and JSON body (in
// `requests`) before passing it on: how a test counts a client's tries and reads
// what it sent.
export function recordingFetch() {
  const requests = [];
  const fetchAndRecord = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    let body = null;
    if (typeof init.body === 'string') body = JSON.parse(init.body);
    requests.push({ method: init.method ?? 'GET', path: url.pathname, body });
    return fetch(input, init);
  };
  return { fetch: fetchAndRecord, requests };
}

// test(name, body), for a body whose packages need Node `major` or newer: on an
// older Node it is skipped with the reason, or fails with it under CI=true.
export function testOnNode(major, packages, name, body) {
  if (Number(process.versions.node.split('.')[0]) >= major) return test(name, body);
  const why = `${packages} needs Node ${major} or newer; this is Node ${process.versions.node}`;
  if (process.env.CI === 'true') return test(name, () => { throw new Error(why); });
  return test(name, { skip: why }, body);
}

// An assertion that a value is valid under a JSON Schema, judged by ajv (draft
// 2020-12, what zod's toJSONSchema writes), not by the client that parsed it.
// Each schema object is compiled once.
export async function schemaAssertion() {
  const { default: Ajv2020 } = await import('ajv/dist/2020.js');
  const ajv = new Ajv2020({ strict: true });
  const compiled = new Map();
  return (jsonSchema, value, what) => {
    if (!compiled.has(jsonSchema)) compiled.set(jsonSchema, ajv.compile(jsonSchema));
    const validate = compiled.get(jsonSchema);
    assert.ok(validate(value), `${what}: ${JSON.stringify(value)}: ${ajv.errorsText(validate.errors)}`);
  };
}
