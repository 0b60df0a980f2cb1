// What the explorer's tools share: `entropix explore` on a free port with its own
// database (the address is the line it prints on stdout), and Debian's Chromium
// through playwright-core (tests/node's packages), started the way this machine
// needs it (no network of its own, no sandbox).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests', 'node', 'package.json'));

// {url, stop()}: the server, and a stop that ends it and removes its database.
export function startExplore(binary, model, threads = 1) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'entropix-tool-'));
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, ['explore', '-m', model, '--port', '0', '--db', path.join(tmp, 'explore.db'),
      '-t', String(threads)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^(http:\/\/\S+\/)$/m);
      if (m) resolve({ url: m[1], stop: () => { proc.kill('SIGTERM'); rmSync(tmp, { recursive: true, force: true }); } });
    });
    proc.on('exit', (code) => reject(new Error(`entropix explore exited with ${code}`)));
  });
}

export function launchChromium() {
  const { chromium } = require('playwright-core');
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'] });
}
