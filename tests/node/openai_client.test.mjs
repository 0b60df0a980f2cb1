// `entropix serve` driven by the official `openai` npm client: completions and
// chat, streamed and not, logprobs shapes, n > 1, prompt arrays, stop sequences,
// seeds, the entropix extension fields, models.retrieve, x-request-id and
// system_fingerprint, and errors surfacing as the client's APIError with the
// right status. Plain node:test (Node 18+), no build step.
//
// Run through ctest (ENTROPIX_BINARY, ENTROPIX_SOURCE_DIR) after `npm ci` in
// this folder (scripts/setup.sh does it). Without node_modules it fails under
// CI=true and is skipped (exit 77) otherwise.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));
const SKIP = 77;

if (!existsSync(path.join(here, 'node_modules', 'openai'))) {
  const why = `the openai package is not installed in ${here} (run: npm ci --prefix tests/node, or bash scripts/setup.sh)`;
  if (process.env.CI === 'true') {
    console.error(`FAIL openai_client: ${why}`);
    process.exit(1);
  }
  console.log(`SKIPPED openai_client: ${why}`);
  process.exit(SKIP);
}
const binary = process.env.ENTROPIX_BINARY;
if (!binary || !existsSync(binary)) {
  console.log(`SKIPPED openai_client: ENTROPIX_BINARY (${binary}) is not a built entropix binary (run through ctest)`);
  process.exit(process.env.CI === 'true' ? 1 : SKIP);
}
const { default: OpenAI } = await import('openai');

const KEY = 'test-key';
const sourceDir = process.env.ENTROPIX_SOURCE_DIR ?? path.join(here, '..', '..');
const model = path.join(sourceDir, 'models', 'demo', 'demo-q8_0.gguf');
const MODEL = 'demo-q8_0';  // the id /v1/models lists (the file's stem)
const ALIAS = 'entropix-demo';
const PATH_ALIAS = 'entropix/demo:q8_0';  // an id with '/' and ':', which the client percent-encodes in paths
const PROMPT = 'Q: Mia has 12 apples. She buys 7 more. How many apples does Mia have now?\nA:';
const CHAT = [{ role: 'user', content: 'Tom has 3 pens. He buys 4 more. How many pens now?' }];

let server;
let baseURL;
let client;

// Starts `entropix serve` on a free loopback port, read back from its ready line.
function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, ['serve', '-m', model, '--port', '0', '--api-key', KEY, '-t', '1', '-c', '4096',
      '--parallel', '4', '--alias', ALIAS, '--alias', PATH_ALIAS], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`entropix serve did not start:\n${log}`)), 60000);
    proc.stderr.on('data', (data) => {
      log += data;
      const m = log.match(/on http:\/\/[^:]+:(\d+) /);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]) });
      }
    });
    proc.on('exit', (code) => reject(new Error(`entropix serve exited with ${code}:\n${log}`)));
  });
}

before(async () => {
  server = await startServer();
  baseURL = `http://127.0.0.1:${server.port}/v1`;
  client = new OpenAI({ apiKey: KEY, baseURL, maxRetries: 0, timeout: 60000 });
});

after(async () => {
  if (!server) return;
  const exited = new Promise((resolve) => server.proc.once('exit', resolve));
  server.proc.kill('SIGTERM');
  await exited;
});

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function checkEntropix(tokens, n) {
  assert.ok(Array.isArray(tokens), 'choices[].entropix is an array');
  assert.equal(tokens.length, n);
  for (const t of tokens) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.entropy >= 0);
    assert.ok(t.varentropy >= 0);
    assert.match(t.state, /^(LELV|HELV|LEHV|HEHV|ADAPTIVE)$/);
    assert.equal(typeof t.action, 'string');
    assert.equal(typeof t.inserted, 'boolean');
    assert.ok(Array.isArray(t.ids) && t.ids.length >= 1 && t.ids.every(Number.isInteger), 'entropix[].ids');
  }
}

test('models.list names the served model, then its aliases', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), [MODEL, ALIAS, PATH_ALIAS]);
});

test('models.retrieve gives the listed entry; created is the file\'s time; an unknown id is model_not_found', async () => {
  const listed = (await client.models.list()).data;
  const created = Math.floor(statSync(model).mtimeMs / 1000);
  for (const entry of listed) {
    const one = await client.models.retrieve(entry.id);
    assert.deepEqual({ ...one }, { ...entry });
    assert.equal(one.created, created);
  }
  await assert.rejects(client.models.retrieve('gpt-4o'), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.param, 'model');
    return true;
  });
});

test('every response names its request (x-request-id) and the model and build (system_fingerprint)', async () => {
  const params = { model: MODEL, prompt: PROMPT, max_tokens: 2, temperature: 0 };
  const { data, response } = await client.completions.create(params).withResponse();
  const id = response.headers.get('x-request-id');
  assert.match(id, /^req_[0-9a-f]{32}$/);
  assert.equal(data._request_id, id);
  assert.match(data.system_fingerprint, /^entropix-\d+\.\d+\.\d+-[0-9a-f]{10}$/);
  const again = await client.completions.create(params);
  assert.notEqual(again._request_id, id);
  assert.equal(again.system_fingerprint, data.system_fingerprint);
  // The client's own id is echoed, streamed or not, and on errors.
  const mine = await client.chat.completions.create({ model: MODEL, messages: CHAT, max_tokens: 2 },
    { headers: { 'X-Request-Id': 'node-trace-1' } });
  assert.equal(mine._request_id, 'node-trace-1');
  assert.equal(mine.system_fingerprint, data.system_fingerprint);
  const { response: streamed } = await client.completions.create({ ...params, stream: true },
    { headers: { 'X-Request-Id': 'node-trace-2' } }).withResponse();
  assert.equal(streamed.headers.get('x-request-id'), 'node-trace-2');
  for (const chunk of await collect(await client.completions.create({ ...params, stream: true }))) {
    assert.equal(chunk.system_fingerprint, data.system_fingerprint);
  }
  await assert.rejects(client.completions.create({ ...params, temperature: 9 }, { headers: { 'X-Request-Id': 'node-bad' } }),
    (e) => e instanceof OpenAI.BadRequestError && e.requestID === 'node-bad');
});

test('a prompt array: a choice per prompt (prompt-major with n), each as the prompt sent alone', async () => {
  const prompts = [PROMPT, 'Once upon a time, a little fox', 'Q: What is 2 + 3?\nA:'];
  const ids = (c) => c.entropix.flatMap((t) => t.ids);
  const greedy = { model: MODEL, max_tokens: 8, temperature: 0 };
  const together = await client.completions.create({ ...greedy, prompt: prompts });
  assert.deepEqual(together.choices.map((c) => c.index), [0, 1, 2]);
  let promptTokens = 0;
  for (const [p, prompt] of prompts.entries()) {
    const alone = await client.completions.create({ ...greedy, prompt });
    assert.equal(together.choices[p].text, alone.choices[0].text);
    assert.deepEqual(ids(together.choices[p]), ids(alone.choices[0]));
    promptTokens += alone.usage.prompt_tokens;
  }
  assert.equal(together.usage.prompt_tokens, promptTokens);

  // With n: choice i of prompt p is index p * n + i, drawn as choice i of p alone.
  const sampled = { model: MODEL, max_tokens: 10, temperature: 1.3, seed: 17, n: 2 };
  const pair = await client.completions.create({ ...sampled, prompt: prompts.slice(1) });
  assert.equal(pair.choices.length, 4);
  for (const [p, prompt] of prompts.slice(1).entries()) {
    const alone = await client.completions.create({ ...sampled, prompt });
    for (let i = 0; i < 2; i++) assert.equal(pair.choices[p * 2 + i].text, alone.choices[i].text, `prompt ${p} choice ${i}`);
  }
  const texts = ['', '', '', ''];
  for (const chunk of await collect(await client.completions.create({ ...sampled, prompt: prompts.slice(1), stream: true }))) {
    for (const c of chunk.choices) texts[c.index] += c.text;
  }
  assert.deepEqual(texts, pair.choices.map((c) => c.text));
});

test('a prompt and max_tokens beyond the context are a BadRequestError context_length_exceeded', async () => {
  const cases = [
    [() => client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 4096 }), 'prompt'],
    [() => client.chat.completions.create({ model: MODEL, messages: CHAT, max_completion_tokens: 4096 }), 'messages'],
  ];
  for (const [create, param] of cases) {
    await assert.rejects(create(), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, e.constructor.name);
      assert.equal(e.code, 'context_length_exceeded');
      assert.equal(e.param, param);
      assert.match(e.message, /maximum context length is 4096 tokens\. However, you requested \d+ tokens \(\d+ in the (prompt|messages), 4096 in the completion\)/);
      return true;
    });
  }
});

test('completions: whole and streamed agree under greedy, with the entropix fields', async () => {
  const params = { model: MODEL, prompt: PROMPT, max_tokens: 12, temperature: 0 };
  const whole = await client.completions.create(params);
  assert.equal(whole.object, 'text_completion');
  assert.equal(whole.choices.length, 1);
  const choice = whole.choices[0];
  assert.ok(choice.text.length > 0);
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  assert.ok(whole.usage.prompt_tokens > 10);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);
  checkEntropix(choice.entropix, whole.usage.completion_tokens);

  const chunks = await collect(await client.completions.create({ ...params, stream: true }));
  assert.equal(chunks.map((c) => c.choices[0].text).join(''), choice.text);
  assert.equal(chunks.at(-1).choices[0].finish_reason, choice.finish_reason);
  assert.equal(chunks.flatMap((c) => c.choices[0].entropix).length, whole.usage.completion_tokens);
});

test('chat: whole and streamed agree, the stream ends with usage', async () => {
  const params = { model: MODEL, messages: CHAT, max_tokens: 10, temperature: 0 };
  const whole = await client.chat.completions.create(params);
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0].message.role, 'assistant');
  assert.equal(typeof whole.choices[0].message.content, 'string');
  checkEntropix(whole.choices[0].entropix, whole.usage.completion_tokens);

  const chunks = await collect(await client.chat.completions.create({
    ...params, stream: true, stream_options: { include_usage: true },
  }));
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const text = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta.content ?? '').join('');
  assert.equal(text, whole.choices[0].message.content);
  const { prompt_tokens_details: cached, ...usage } = chunks.at(-1).usage;
  const { prompt_tokens_details: _, ...wholeUsage } = whole.usage;
  assert.deepEqual(usage, wholeUsage);
  // The repeat's prompt comes from the prefix cache, all but its last token.
  assert.equal(cached.cached_tokens, usage.prompt_tokens - 1);
  assert.equal(chunks.at(-1).choices.length, 0);
});

test('chat logprobs: content[] with top_logprobs, the chosen token first under greedy', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: CHAT, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.ok(Array.isArray(t.bytes));
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].token, t.token);
    assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-6);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob);
  }
});

test('completions logprobs: the legacy shape', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 4, temperature: 0, logprobs: 2 });
  const lp = r.choices[0].logprobs;
  const n = r.usage.completion_tokens;
  assert.equal(lp.tokens.length, n);
  assert.equal(lp.token_logprobs.length, n);
  assert.equal(lp.text_offset.length, n);
  assert.equal(lp.top_logprobs.length, n);
  for (const top of lp.top_logprobs) assert.equal(Object.keys(top).length <= 2, true);
});

test('n > 1: one choice per index; greedy choices are identical; usage counts them all', async () => {
  const one = await client.chat.completions.create({ model: MODEL, messages: CHAT, max_tokens: 8, temperature: 0 });
  const three = await client.chat.completions.create({
    model: MODEL, messages: CHAT, max_tokens: 8, temperature: 0, n: 3,
  });
  assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
  for (const c of three.choices) assert.equal(c.message.content, one.choices[0].message.content);
  assert.equal(three.usage.completion_tokens, 3 * one.usage.completion_tokens);

  const sampled = { model: MODEL, prompt: 'Q:', max_tokens: 12, temperature: 1.5, seed: 99, n: 4 };
  const whole = await client.completions.create(sampled);
  assert.ok(new Set(whole.choices.map((c) => c.text)).size >= 2, 'sampled choices differ');
  const chunks = await collect(await client.completions.create({ ...sampled, stream: true }));
  const texts = ['', '', '', ''];
  for (const c of chunks) for (const ch of c.choices) texts[ch.index] += ch.text;
  assert.deepEqual(texts, whole.choices.map((c) => c.text));
});

test('stop sequences end the text before them', async () => {
  const base = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 24, temperature: 0 });
  const text = base.choices[0].text;
  assert.ok(text.length >= 6, text);
  const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 2);
  const expected = text.slice(0, text.indexOf(stop));
  const r = await client.completions.create({
    model: MODEL, prompt: PROMPT, max_tokens: 24, temperature: 0, stop: ['@@@', stop],
  });
  assert.equal(r.choices[0].text, expected);
  assert.equal(r.choices[0].finish_reason, 'stop');
  const chunks = await collect(await client.completions.create({
    model: MODEL, prompt: PROMPT, max_tokens: 24, temperature: 0, stop, stream: true,
  }));
  assert.equal(chunks.map((c) => c.choices[0].text).join(''), expected);
});

test('the same seed gives the same sampled text', async () => {
  const params = { model: MODEL, messages: CHAT, max_tokens: 16, temperature: 1.3, seed: 4242 };
  const a = await client.chat.completions.create(params);
  const b = await client.chat.completions.create(params);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test('the entropix request field picks the sampler', async () => {
  const r = await client.completions.create({
    model: MODEL, prompt: PROMPT, max_tokens: 8, entropix: { sampler: 'greedy' },
  });
  const g = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 8, temperature: 0 });
  assert.equal(r.choices[0].text, g.choices[0].text);
});

test('a wrong key is an AuthenticationError (401)', async () => {
  const wrong = new OpenAI({ apiKey: 'not-the-key', baseURL, maxRetries: 0 });
  await assert.rejects(wrong.completions.create({ model: MODEL, prompt: 'x' }), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, e.constructor.name);
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_api_key');
    return true;
  });
});

test('bad parameters are a BadRequestError (400) naming the field', async () => {
  const cases = [
    [{ model: MODEL, prompt: 'x', temperature: 5 }, 'temperature', 'temperature'],
    [{ model: MODEL, prompt: 'x', max_tokens: 0 }, 'max_tokens', 'max_tokens'],
    [{ model: MODEL, prompt: 'x', n: 64 }, "'n'", 'n'],
    [{ model: MODEL, prompt: 'x', stop: 7 }, 'stop', 'stop'],
    [{ model: MODEL, prompt: 'x', logit_bias: { 99999: -100 } }, 'logit_bias', 'logit_bias'],
  ];
  for (const [params, field, param] of cases) {
    await assert.rejects(client.completions.create(params), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(params)}: ${e.constructor.name}`);
      assert.equal(e.status, 400);
      assert.ok(e.message.includes(field), e.message);
      assert.equal(e.param, param, e.message);
      return true;
    });
  }
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'messages');
});

test('legacy functions are refused by name, and tool_choice needs tools', async () => {
  const fn = { name: 'add', parameters: { type: 'object', properties: {} } };
  const cases = [
    [{ functions: [fn] }, 'functions', 'not supported'],
    [{ tool_choice: 'required' }, 'tool_choice', 'tools'],
  ];
  for (const [extra, param, words] of cases) {
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: CHAT, max_tokens: 4, ...extra }),
      (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, `${param}: ${e.constructor.name}`);
        assert.equal(e.param, param);
        assert.ok(e.message.includes(words), e.message);
        return true;
      });
  }
});

test('logit_bias bans a token and favours another', async () => {
  const ids = (r) => r.choices[0].entropix.flatMap((t) => t.ids);
  const base = { model: MODEL, prompt: PROMPT, max_tokens: 3, temperature: 0 };
  const first = ids(await client.completions.create(base))[0];
  const banned = ids(await client.completions.create({ ...base, logit_bias: { [first]: -100 } }));
  assert.notEqual(banned[0], first);
  const favoured = ids(await client.completions.create({ ...base, temperature: 1, seed: 4,
    logit_bias: { [banned[0]]: 100 } }));
  assert.deepEqual(favoured, [banned[0], banned[0], banned[0]]);
});

test('an unknown route is a NotFoundError (404)', async () => {
  await assert.rejects(client.get('/no-such-route'), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
});

test('an unknown model is a NotFoundError (404) model_not_found; an alias is served', async () => {
  for (const create of [
    (model) => client.completions.create({ model, prompt: 'Q:', max_tokens: 2 }),
    (model) => client.chat.completions.create({ model, messages: CHAT, max_tokens: 2 }),
  ]) {
    await assert.rejects(create('gpt-3.5-turbo-instruct'), (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.param, 'model');
      assert.equal(e.type, 'invalid_request_error');
      assert.ok(e.message.includes('The model `gpt-3.5-turbo-instruct` does not exist'), e.message);
      return true;
    });
    const r = await create(ALIAS);
    assert.equal(r.model, MODEL);
  }
});

test('a body over the limit is an APIError with status 413', async () => {
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'a'.repeat(1100 * 1024) }), (e) => {
    assert.ok(e instanceof OpenAI.APIError, e.constructor.name);
    assert.equal(e.status, 413);
    return true;
  });
});
