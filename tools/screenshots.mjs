// Screenshots of the explorer's main views for docs/ and the README, taken with
// Debian's Chromium through playwright-core (tests/node's packages): the
// document with a token's alternatives open, the tree with two branches compared,
// the same in dark mode, step mode, and a phone-width window.
//
//   node tools/screenshots.mjs [--binary build/entropix] [--model models/demo/demo-q8_0.gguf] [--out docs]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests', 'node', 'package.json'));
const { chromium } = require('playwright-core');

const { values: args } = parseArgs({
  options: {
    binary: { type: 'string', default: path.join(root, 'build', 'entropix') },
    model: { type: 'string', default: path.join(root, 'models', 'demo', 'demo-q8_0.gguf') },
    out: { type: 'string', default: path.join(root, 'docs') },
  },
});

const PROMPT = 'Q: A baker has 47 rolls. She sells 18 in the morning, bakes 25 more, then sells 31. ' +
  'How many rolls does she have?\nA:';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'entropix-shots-'));

function start() {
  return new Promise((resolve, reject) => {
    const proc = spawn(args.binary, ['explore', '-m', args.model, '--port', '0', '--db', path.join(tmp, 'explore.db'), '-t', '2'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^(http:\/\/\S+\/)$/m);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.on('exit', (code) => reject(new Error(`entropix explore exited with ${code}`)));
  });
}

async function call(url, method, p, body) {
  const res = await fetch(new URL(p, url), { method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}

const server = await start();
try {
  // A session with a first answer under the entropix sampler and two branches.
  const s = await call(server.url, 'POST', '/explore/v1/sessions',
    { title: 'Rolls', prompt: PROMPT, settings: { sampler: 'entropix', max_tokens: 48, seed: 7 } });
  const base = `/explore/v1/sessions/${s.id}`;
  const rootNode = (await call(server.url, 'POST', `${base}/generate`, { stream: false })).node;
  // Branch where the model was least sure.
  let at = 0;
  rootNode.tokens.forEach((t, i) => { if (t.entropy > rootNode.tokens[at].entropy) at = i; });
  await call(server.url, 'POST', `${base}/generate`, { node: rootNode.id, at, token: rootNode.tokens[at].top[1].id, stream: false });
  await call(server.url, 'POST', `${base}/generate`, { node: rootNode.id, at: Math.max(1, at - 4), stream: false, seed: 3 });

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'] });
  const shoot = async (name, { width = 1400, height = 820, dark = false, setup }) => {
    const page = await browser.newPage({ viewport: { width, height }, colorScheme: dark ? 'dark' : 'light' });
    await page.goto(server.url);
    await page.waitForFunction(() => window.explorer?.state.session);
    await setup(page);
    await page.waitForTimeout(250);
    await page.screenshot({ path: path.join(args.out, `explorer-${name}.png`) });
    await page.close();
    console.log(`wrote ${path.join(args.out, `explorer-${name}.png`)}`);
  };
  const showRootWithAlternatives = async (page) => {
    await page.evaluate((id) => window.explorer.show(id, false), rootNode.id);
    await page.selectOption('#measure', 'entropy');
    await page.locator(`#doc .t[data-k="a"][data-i="${at}"]`).dispatchEvent("click");
  };
  await shoot('alternatives', { setup: showRootWithAlternatives });
  await shoot('compare', {
    setup: async (page) => {
      const ids = await page.evaluate(() => window.explorer.state.session.nodes.map((n) => n.id));
      await page.evaluate(([a, b]) => { window.explorer.show(a, false); window.explorer.compare(b); }, [ids[1], ids[0]]);
      await page.focus('#tree');
    },
  });
  await shoot('step', {
    setup: async (page) => {
      await page.evaluate((id) => window.explorer.show(id, false), rootNode.id);
      await page.check('#show-ws');
      await page.check('#step-mode');
      await page.waitForSelector('#step-panel .cands button');
    },
  });
  await shoot('phone', {
    width: 390, height: 800, dark: true,
    setup: async (page) => {
      await page.evaluate((id) => window.explorer.show(id, false), rootNode.id);
      await page.locator(`#doc .t[data-k="a"][data-i="${at}"]`).dispatchEvent("click");
    },
  });
  await browser.close();
} finally {
  server.proc.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
