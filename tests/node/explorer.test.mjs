// The explorer's page in a real browser: Debian's Chromium driven by
// playwright-core, against `entropix explore` on the demo model with its own
// database. A person's path through it: the API key asked for once; a session
// made and its answer generated; a token's alternatives whose probabilities and
// "others" sum to 1 and match the saved step; a picked alternative as a new
// branch in the tree; the tree walked with the keyboard; the same tree after a
// reload and after a restart of the server; an export imported back; the colour
// measure, the min-p filter and step mode.
//
// Run through ctest (ENTROPIX_BINARY, ENTROPIX_SOURCE_DIR) after `npm ci` in this
// folder and with /usr/bin/chromium (scripts/setup.sh installs both). Without
// them it fails under CI=true and is skipped (exit 77) otherwise.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));
const SKIP = 77;
const CHROMIUM = process.env.ENTROPIX_CHROMIUM || '/usr/bin/chromium';

function skip(why) {
  if (process.env.CI === 'true') {
    console.error(`FAIL explorer: ${why}`);
    process.exit(1);
  }
  console.log(`SKIPPED explorer: ${why}`);
  process.exit(SKIP);
}
if (!existsSync(path.join(here, 'node_modules', 'playwright-core')))
  skip(`playwright-core is not installed in ${here} (run: npm ci --prefix tests/node, or bash scripts/setup.sh)`);
if (!existsSync(CHROMIUM)) skip(`no browser at ${CHROMIUM} (apt install chromium, or bash scripts/setup.sh)`);
const binary = process.env.ENTROPIX_BINARY;
if (!binary || !existsSync(binary)) skip(`ENTROPIX_BINARY (${binary}) is not a built entropix binary (run through ctest)`);
const { chromium } = await import('playwright-core');

const KEY = 'page-key';
const sourceDir = process.env.ENTROPIX_SOURCE_DIR ?? path.join(here, '..', '..');
const model = path.join(sourceDir, 'models', 'demo', 'demo-q8_0.gguf');
const PROMPT = 'Q: Tom has 14 marbles. He wins 9 more and loses 5. How many marbles does Tom have?\nA:';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'entropix-explorer-'));
const db = path.join(tmp, 'explore.db');

let server;
let browser;
let page;

// `entropix explore` on a free port; the address is the line it prints on stdout.
function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, ['explore', '-m', model, '--port', '0', '--db', db, '--api-key', KEY, '-t', '1',
      '--sampler', 'greedy'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`entropix explore did not start:\n${err}`)), 60000);
    proc.stderr.on('data', (d) => { err += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^(http:\/\/127\.0\.0\.1:\d+\/)$/m);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1] }); }
    });
    proc.on('exit', (code) => reject(new Error(`entropix explore exited with ${code}:\n${err}`)));
  });
}

function stopServer() {
  return new Promise((resolve) => {
    if (!server || server.proc.exitCode !== null) { resolve(); return; }
    server.proc.on('exit', resolve);
    server.proc.kill('SIGTERM');
  });
}

async function api(method, p, body) {
  const res = await fetch(new URL(p, server.url), {
    method, headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

const pageState = () => page.evaluate(() => {
  const s = window.explorer.state;
  return { shown: s.shown, nodes: s.session?.nodes.map((n) => ({ id: n.id, parent: n.parent, at: n.at, status: n.status,
    text: n.tokens.map((t) => t.text).join('') })) ?? null, title: s.session?.title };
});

async function waitIdle() {
  await page.waitForFunction(() => {
    const s = window.explorer?.state;
    return s && s.session && !s.generating && s.session.nodes.every((n) => n.status !== 'generating');
  }, null, { timeout: 60000 });
}

before(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.on('pageerror', (e) => { throw e; });
  page.on('dialog', (d) => d.accept());  // confirm() of a delete
});

after(async () => {
  await browser?.close();
  await stopServer();
  rmSync(tmp, { recursive: true, force: true });
});

test('the page asks for the API key once and keeps it', async () => {
  await page.goto(server.url);
  await page.waitForSelector('#key-dialog[open]');
  await page.fill('#key-input', KEY);
  await page.click('#key-dialog button');
  // The empty view shows once the page has read the server with the key (it is hidden before).
  await page.waitForSelector('#empty-view:not([hidden])');
  assert.equal(await page.textContent('#model-name'), 'demo-q8_0');
  await page.reload();
  await page.waitForSelector('#empty-view:not([hidden])');
  assert.equal(await page.isVisible('#key-dialog[open]'), false, 'no second question after a reload');
});

test('a new session generates its answer token by token', async () => {
  await page.click('#empty-new');
  await page.fill('#new-form input[name=title]', 'Marbles');
  await page.fill('#new-form textarea[name=prompt]', PROMPT);
  await page.fill('#new-form input[name=max_tokens]', '24');
  await page.click('#new-form button[type=submit]');
  await waitIdle();
  const st = await pageState();
  assert.equal(st.nodes.length, 1);
  const saved = await api('GET', `/explore/v1/sessions/${(await api('GET', '/explore/v1/sessions')).sessions[0].id}`);
  assert.equal(st.nodes[0].text, saved.nodes[0].tokens.map((t) => t.text).join(''));
  const completion = await api('POST', '/v1/completions', { prompt: PROMPT, max_tokens: 24, temperature: 0 });
  assert.equal(st.nodes[0].text, completion.choices[0].text, 'the greedy answer, as /v1/completions gives it');
  const spans = await page.$$eval('#doc .t[data-k="a"]', (els) => els.map((e) => e.textContent).join(''));
  assert.equal(spans, st.nodes[0].text, 'the document shows the answer');
});

test("a token's alternatives sum with 'others' to 1 and match the saved step", async () => {
  await page.click('#doc .t[data-k="a"][data-i="1"]');
  await page.waitForSelector('#popover:not([hidden]) tr.alt');
  const rows = await page.$$eval('#popover tr.alt, #popover tr.others', (trs) => trs.map((tr) => ({
    id: tr.dataset.id ? Number(tr.dataset.id) : null, p: Number(tr.dataset.p), q: tr.dataset.q ? Number(tr.dataset.q) : null,
    chosen: tr.classList.contains('chosen'), excluded: tr.classList.contains('excluded') })));
  const sum = rows.reduce((a, r) => a + r.p, 0);
  assert.ok(Math.abs(sum - 1) < 1e-6, `p of the listed tokens and others sum to ${sum}`);
  assert.equal(rows.filter((r) => r.id != null).length, 10, 'the popover lists the top 10');
  const s = (await api('GET', '/explore/v1/sessions')).sessions[0];
  const step = (await api('GET', `/explore/v1/sessions/${s.id}`)).nodes[0].tokens[1];
  assert.deepEqual(rows.filter((r) => r.id != null).map((r) => r.id), step.top.slice(0, 10).map((a) => a.id));
  const panel = await page.$$eval('#panel tr.alt, #panel tr.others', (trs) => trs.map((tr) => ({
    id: tr.dataset.id ? Number(tr.dataset.id) : null, p: Number(tr.dataset.p) })));
  assert.deepEqual(panel.filter((r) => r.id != null).map((r) => r.id), step.top.map((a) => a.id), 'the panel lists all 20');
  assert.ok(Math.abs(panel.reduce((a, r) => a + r.p, 0) - 1) < 1e-6);
  assert.equal(rows.find((r) => r.chosen).id, step.ids[0], 'the chosen token is highlighted');
  // Greedy: the sampler kept only the argmax; the others are greyed in place.
  assert.deepEqual(rows.filter((r) => r.id != null).map((r) => r.excluded), step.top.slice(0, 10).map((a) => a.q === 0));
  assert.match(await page.textContent('#popover .metrics'), /entropy/);
  assert.equal(await page.isVisible('#panel'), true, 'the side panel shows the same token');
});

test('the min-p filter hides alternatives and folds their mass into others', async () => {
  await page.fill('#min-p', '0.01');
  await page.dispatchEvent('#min-p', 'input');
  const rows = await page.$$eval('#popover tr.alt, #popover tr.others', (trs) => trs.map((tr) => Number(tr.dataset.p)));
  const alts = await page.$$eval('#popover tr.alt', (trs) => trs.map((tr) => ({ p: Number(tr.dataset.p), chosen: tr.classList.contains('chosen') })));
  assert.ok(alts.every((a) => a.p >= 0.01 || a.chosen), 'only alternatives of at least 0.01 (and the chosen one) stay');
  assert.ok(alts.length < 10);
  assert.ok(Math.abs(rows.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'still summing to 1');
  await page.fill('#min-p', '0');
  await page.dispatchEvent('#min-p', 'input');
  await page.selectOption('#measure', 'state');
  assert.match(await page.textContent('#legend'), /LELV/);
  await page.selectOption('#measure', 'prob');
});

test('picking an alternative makes a new branch where the paths part', async () => {
  const before = await pageState();
  const root = before.nodes[0];
  const row = page.locator('#popover tr.alt:not(.chosen)').first();
  const alt = Number(await row.getAttribute('data-id'));
  await row.click();
  await waitIdle();
  const st = await pageState();
  assert.equal(st.nodes.length, 2);
  const branch = st.nodes[1];
  assert.deepEqual([branch.parent, branch.at], [root.id, 1]);
  assert.equal(st.shown, branch.id, 'the new branch is shown');
  const first = await page.$eval('#doc .t[data-k="a"][data-i="1"]', (e) => e.className);
  assert.match(first, /forced/, 'the picked token is marked');
  const saved = await api('GET', `/explore/v1/sessions/${(await api('GET', '/explore/v1/sessions')).sessions[0].id}`);
  assert.equal(saved.nodes[1].tokens[0].ids[0], alt);
  assert.equal(await page.locator('#tree .node').count(), 2);
  assert.equal(await page.locator('#doc .t.fork').count(), 1, 'the parting point is marked');
});

test('the tree is walked with the keyboard', async () => {
  const st = await pageState();
  await page.focus('#tree');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Enter');
  assert.equal((await pageState()).shown, st.nodes[0].id, 'Enter on the first node shows it');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  assert.equal((await pageState()).shown, st.nodes[1].id);
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowLeft');  // fold the root: its branch is hidden
  assert.equal(await page.locator('#tree .node').count(), 1);
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('#tree .node').count(), 2);
  await page.keyboard.press('c');  // compare the root with the shown branch
  await page.waitForSelector('#compare:not([hidden])');
  assert.match(await page.textContent('#compare-bar'), /part at position 1/);
  await page.focus('#doc');
  await page.keyboard.press('Escape');
  assert.equal(await page.isVisible('#compare'), false);
});

test('the document is moved through with the keyboard and resampled with r', async () => {
  await page.focus('#doc');
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  const cursor = await page.$eval('#doc .t.cursor', (e) => Number(e.dataset.i));
  assert.equal(cursor, 2);
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.locator('#popover tr.alt.cursor').count(), 1);
  await page.keyboard.press('r');
  await waitIdle();
  const st = await pageState();
  assert.equal(st.nodes.length, 3);
  assert.equal(st.nodes[2].at, 2);
});

test('a reload shows the same tree and branch', async () => {
  const before = await pageState();
  await page.reload();
  await page.waitForFunction(() => window.explorer?.state.session);
  assert.deepEqual(await pageState(), before);
});

test('a restart of the server shows the same tree', async () => {
  const before = await pageState();
  await stopServer();
  server = await startServer();
  await page.goto(server.url);
  // A new port is a new origin for the browser: the key is asked for again there.
  await page.waitForSelector('#key-dialog[open]');
  await page.fill('#key-input', KEY);
  await page.click('#key-dialog button');
  await page.waitForFunction(() => window.explorer?.state.session);
  assert.deepEqual(await pageState(), before);
});

test('step mode: the person picks each next token', async () => {
  await page.check('#step-mode');
  await page.waitForSelector('#step-panel .cands button');
  const before = await pageState();
  const shown = before.nodes.find((n) => n.id === before.shown);
  const cand = page.locator('#step-panel .cands button').nth(1);
  const id = Number(await cand.getAttribute('data-id'));
  await cand.click();
  await waitIdle();
  await page.waitForSelector('#step-panel .cands button');
  const after = await pageState();
  const grown = after.nodes.find((n) => n.id === after.shown);
  assert.equal(grown.id, shown.id, 'the token is appended to the shown branch');
  const saved = await api('GET', `/explore/v1/sessions/${(await api('GET', '/explore/v1/sessions')).sessions[0].id}`);
  const node = saved.nodes.find((n) => n.id === grown.id);
  assert.equal(node.tokens.at(-1).ids[0], id);
  assert.equal(node.tokens.at(-1).forced, true);
  await page.uncheck('#step-mode');
});

test('an export imports back as the same tree', async () => {
  const sessions = (await api('GET', '/explore/v1/sessions')).sessions;
  const id = sessions[0].id;
  const download = page.waitForEvent('download');
  await page.click('#export-json');
  const file = await (await download).path();
  const exported = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(exported.format, 'entropix-explore');
  await page.setInputFiles('#import-file', file);
  await page.waitForFunction((old) => window.explorer.state.session && window.explorer.state.session.id !== old, id);
  const st = await pageState();
  const original = await api('GET', `/explore/v1/sessions/${id}`);
  assert.deepEqual(st.nodes.map((n) => n.text), original.nodes.map((n) => n.tokens.map((t) => t.text).join('')));
  assert.equal((await api('GET', '/explore/v1/sessions')).sessions.length, 2);
  // Delete the copy from the list.
  await page.click(`#session-list li[data-id="${st.nodes.length && (await page.evaluate(() => window.explorer.state.session.id))}"] button[title=Delete]`);
  await page.waitForFunction(() => document.querySelectorAll('#session-list li').length === 1);
});

test('a phone-width window still shows the document and the tree behind a button', async () => {
  await page.setViewportSize({ width: 380, height: 800 });
  assert.equal(await page.isVisible('#toggle-side'), true);
  await page.click('#toggle-side');
  await page.waitForFunction(() => document.getElementById('side').classList.contains('open'));
  await page.click('#session-list li .name');
  await page.waitForSelector('#doc', { state: 'visible' });
  assert.equal(await page.evaluate(() => document.getElementById('side').classList.contains('open')), false,
    'opening a session closes the drawer');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `no sideways scrolling (${overflow} px)`);
  await page.setViewportSize({ width: 1300, height: 900 });
});
