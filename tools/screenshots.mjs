// Screenshots of the explorer's main views for docs/ and the README, taken with
// Debian's Chromium through playwright-core (tests/node's packages): the
// document with a token's alternatives open, the tree with two branches compared,
// the same in dark mode, step mode, and a phone-width window.
//
//   node tools/screenshots.mjs [--binary build/entropix] [--model models/demo/demo-q8_0.gguf] [--out docs]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium, root, startExplore } from './explorer_harness.mjs';

const { values: args } = parseArgs({
  options: {
    binary: { type: 'string', default: path.join(root, 'build', 'entropix') },
    model: { type: 'string', default: path.join(root, 'models', 'demo', 'demo-q8_0.gguf') },
    out: { type: 'string', default: path.join(root, 'docs') },
  },
});

const PROMPT = 'Q: A baker has 47 rolls. She sells 18 in the morning, bakes 25 more, then sells 31. ' +
  'How many rolls does she have?\nA:';
async function call(url, method, p, body) {
  const res = await fetch(new URL(p, url), { method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}

const server = await startExplore(args.binary, args.model, 2);
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

  const browser = await launchChromium();
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
  server.stop();
}
