// How fast the explorer's page answers on a large session (a benchmark, not a
// test): imports a session written by tools/make_explore_session.py (by default
// a 4,000-token answer with 200 branches), opens it in Debian's Chromium through
// playwright-core, and times, from the event to the next painted frame:
//   - opening a token's alternatives (a click on a token of the document);
//   - switching branch (a click on a node of the tree), which rebuilds the document.
//
//   python3 tools/make_explore_session.py -o /tmp/big.json
//   node tools/bench_explore_page.mjs --session /tmp/big.json [--binary build/entropix] [--rounds 30]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium, root, startExplore } from './explorer_harness.mjs';

const { values: args } = parseArgs({
  options: {
    binary: { type: 'string', default: path.join(root, 'build', 'entropix') },
    model: { type: 'string', default: path.join(root, 'models', 'demo', 'demo-q8_0.gguf') },
    session: { type: 'string' },
    rounds: { type: 'string', default: '30' },
  },
});
if (!args.session) throw new Error('--session FILE (from tools/make_explore_session.py) is required');
const rounds = Number(args.rounds);
const server = await startExplore(args.binary, args.model);

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))], max: s.at(-1) };
};

try {
  const t0 = performance.now();
  const res = await fetch(new URL('/explore/v1/import', server.url), {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: readFileSync(args.session),
  });
  if (!res.ok) throw new Error(`import: ${res.status} ${await res.text()}`);
  const imported = await res.json();
  const importMs = performance.now() - t0;
  const nTokens = imported.nodes.reduce((a, n) => a + n.tokens.length, 0);

  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const l0 = performance.now();
  await page.goto(server.url);
  await page.waitForFunction(() => window.explorer?.state.session && document.querySelectorAll('#doc .t').length > 0);
  const loadMs = performance.now() - l0;

  // One interaction: the event dispatched, then two animation frames (the next paint).
  const timed = (selector) => page.evaluate((sel) => new Promise((resolve) => {
    const el = document.querySelector(sel);
    const start = performance.now();
    el.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - start)));
  }), selector);

  const alternatives = [];
  for (let r = 0; r < rounds; r++) {
    const n = await page.evaluate(() => window.explorer.state.path.length);
    const i = Math.floor((r + 0.5) * n / rounds);
    alternatives.push(await timed(`#doc .t[data-k="a"][data-i="${i}"]`));
  }
  const ids = imported.nodes.map((n) => n.id);
  const switches = [];
  for (let r = 0; r < rounds; r++) {
    const id = ids[(r * 37) % ids.length];
    switches.push(await timed(`#tree .node[data-id="${id}"] .label`));
  }
  const shownTokens = await page.evaluate(() => document.querySelectorAll('#doc .t').length);
  await browser.close();
  const a = stats(alternatives);
  const s = stats(switches);
  console.log(`session: ${imported.nodes.length} nodes, ${nTokens} tokens (imported in ${importMs.toFixed(0)} ms); ` +
    `page loaded in ${loadMs.toFixed(0)} ms; a shown path has up to ${shownTokens} token spans`);
  console.log(`open alternatives: median ${a.median.toFixed(1)} ms, p95 ${a.p95.toFixed(1)} ms, max ${a.max.toFixed(1)} ms (${rounds} rounds)`);
  console.log(`switch branch:     median ${s.median.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms, max ${s.max.toFixed(1)} ms (${rounds} rounds)`);
} finally {
  server.stop();
}
