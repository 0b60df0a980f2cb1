// `entropix serve` under the client libraries people use for structured output:
// the Vercel AI SDK (generateObject and streamObject through
// @ai-sdk/openai-compatible, on the json_object and the json_schema road),
// LangChain.js (ChatOpenAI.withStructuredOutput: its default, jsonMode and
// jsonSchema), and the openai SDK (chat.completions.parse with a zod response
// format, a prompt array, models.retrieve). The demo model's answers are
// nonsense; what is checked is what grammar-constrained decoding guarantees: each
// answer is JSON that ajv finds valid against the schema the client sent, on the
// client's first request (no retries: maxRetries 0, requests counted).
//
// Run through ctest (ENTROPIX_BINARY, ENTROPIX_SOURCE_DIR) after `npm ci` in this
// folder (scripts/setup.sh does it). Without the packages it fails under CI=true
// and is skipped (exit 77) otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  requirePackagesAndBinary, startServer, stopServer, recordingFetch, testOnNode, schemaAssertion,
} from './entropix_server.mjs';

const binary = requirePackagesAndBinary('structured_clients',
  ['ai', '@ai-sdk/openai-compatible', '@langchain/openai', '@langchain/core', 'openai', 'zod', 'ajv']);
const { z } = await import('zod');
const { generateObject, streamObject, NoObjectGeneratedError, TypeValidationError } = await import('ai');
const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
const { ChatOpenAI } = await import('@langchain/openai');
const { default: OpenAI } = await import('openai');
const { zodResponseFormat } = await import('openai/helpers/zod');

globalThis.AI_SDK_LOG_WARNINGS = false;  // the warnings are asserted on instead

const KEY = 'test-key';
const MODEL = 'demo';  // an alias of the demo model
const SEEDS = [1, 2, 3];
const MAX_TOKENS = 200;  // above what the schemas' longest answer takes (their strings are bounded)

// Small schemas, each with an enum, a bounded integer and something nested.
const Pet = z.object({
  name: z.string().max(16),
  kind: z.enum(['cat', 'dog', 'fish']),
  age: z.number().int().min(0).max(30),
  owner: z.object({ city: z.string().max(16) }),
});
const Order = z.object({
  items: z.array(z.string().max(12)).min(1).max(3),
  priority: z.enum(['low', 'high']),
  quantity: z.number().int().min(1).max(9),
});
// What a json_object answer can be held to: the server promises an object, not
// these fields (the json_object request carries no schema).
const AnyPet = z.looseObject({ name: z.string().optional(), kind: z.string().optional() });

// Asserts that `value` is valid under the JSON Schema of the zod `schema`, the
// one the client sent.
const assertValidJson = await schemaAssertion();
const JSON_SCHEMAS = new Map([Pet, Order, AnyPet].map((schema) => [schema, z.toJSONSchema(schema)]));
const assertValid = (schema, value, what) => assertValidJson(JSON_SCHEMAS.get(schema), value, what);

let server;

before(async () => {
  server = await startServer(binary, ['--api-key', KEY, '-t', '1', '-c', '4096', '--parallel', '4', '--alias', MODEL]);
});

after(() => stopServer(server));

// ---- Vercel AI SDK -------------------------------------------------------------

function aiProvider(options) {
  const recorder = recordingFetch();
  const provider = createOpenAICompatible({
    name: 'entropix', baseURL: server.baseURL, apiKey: KEY, fetch: recorder.fetch, ...options,
  });
  return { model: provider(MODEL), requests: recorder.requests };
}

const aiSettings = (seed) => ({ maxOutputTokens: MAX_TOKENS, temperature: 1, seed, maxRetries: 0 });

test('AI SDK generateObject, json_schema road (supportsStructuredOutputs): valid objects on the first request', async () => {
  const { model, requests } = aiProvider({ supportsStructuredOutputs: true });
  for (const seed of SEEDS) {
    const r = await generateObject({ model, schema: Pet, prompt: 'Describe a pet.', ...aiSettings(seed) });
    assertValid(Pet, r.object, `seed ${seed}`);
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual(r.warnings, []);
  }
  assert.equal(requests.length, SEEDS.length);
  for (const { path, body } of requests) {
    assert.equal(path, '/v1/chat/completions');
    assert.equal(body.response_format.type, 'json_schema');
    assert.equal(body.response_format.json_schema.strict, true);
  }
});

test('AI SDK generateObject, json_object road (the default): a JSON object, the schema left to the client', async () => {
  const { model, requests } = aiProvider({});
  for (const seed of SEEDS) {
    const r = await generateObject({ model, schema: AnyPet, prompt: 'Describe a pet as JSON.', ...aiSettings(seed) });
    assertValid(AnyPet, r.object, `seed ${seed}`);
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual(r.warnings.map((w) => w.feature), ['responseFormat'], 'the schema is not sent on this road');
    // Held to the full schema, the answer may miss its fields, but it is always
    // JSON: a failure is the schema's (TypeValidationError), never a parse error.
    let full;
    try {
      full = await generateObject({ model, schema: Pet, prompt: 'Describe a pet.', ...aiSettings(seed) });
    } catch (e) {
      assert.ok(NoObjectGeneratedError.isInstance(e), `seed ${seed}: ${e}`);
      assert.ok(TypeValidationError.isInstance(e.cause), `seed ${seed}: ${e.cause}`);
      const text = JSON.parse(e.text);
      assert.ok(text !== null && typeof text === 'object' && !Array.isArray(text), e.text);
    }
    if (full) assertValid(Pet, full.object, `seed ${seed}, full schema`);
  }
  assert.equal(requests.length, 2 * SEEDS.length);
  for (const { body } of requests) assert.deepEqual(body.response_format, { type: 'json_object' });
});

test('AI SDK streamObject, json_schema road: the streamed object validates, and equals the whole one', async () => {
  const { model, requests } = aiProvider({ supportsStructuredOutputs: true });
  const settings = { model, schema: Order, prompt: 'An order, please.', ...aiSettings(7) };
  let failure;
  const streamed = streamObject({ ...settings, onError: ({ error }) => { failure ??= error; } });
  let partials = 0;
  for await (const _ of streamed.partialObjectStream) partials++;
  if (failure) throw failure;
  const object = await streamed.object;
  assertValid(Order, object, 'streamed');
  assert.ok(partials >= 2, `${partials} partial objects`);
  assert.equal(await streamed.finishReason, 'stop');
  const whole = await generateObject(settings);
  assert.deepEqual(object, whole.object, 'same seed, same object');
  assert.equal(requests.length, 2);
  assert.equal(requests[0].body.stream, true);
});

// ---- LangChain.js ----------------------------------------------------------------

// LangChain.js 1.x needs Node 20: @langchain/core says so, and langsmith, which
// runs every call, draws its run ids from the global `crypto` that Node 18 lacks.
const langchainTest = (name, body) => testOnNode(20, 'LangChain.js 1.x', name, body);

function chatOpenAI(seed) {
  const recorder = recordingFetch();
  const llm = new ChatOpenAI({
    model: MODEL, apiKey: KEY, temperature: 1, maxTokens: MAX_TOKENS, maxRetries: 0,
    modelKwargs: { seed }, configuration: { baseURL: server.baseURL, fetch: recorder.fetch },
  });
  return { llm, requests: recorder.requests };
}

for (const [method, schema, format] of [
  [undefined, Order, 'json_schema'],  // LangChain's default for a model not named gpt-3/gpt-4
  ['jsonSchema', Order, 'json_schema'],
  ['jsonMode', AnyPet, 'json_object'],
]) {
  langchainTest(`LangChain withStructuredOutput (method ${method ?? 'default'}): ${format}, valid on the first request`, async () => {
    for (const seed of SEEDS) {
      const { llm, requests } = chatOpenAI(seed);
      const structured = llm.withStructuredOutput(schema, method ? { method } : undefined);
      const answer = await structured.invoke(schema === AnyPet ? 'Describe a pet as JSON.' : 'An order, please.');
      assertValid(schema, answer, `seed ${seed}`);
      assert.equal(requests.length, 1, `seed ${seed}: one request`);
      assert.equal(requests[0].body.response_format.type, format);
      assert.equal(requests[0].body.seed, seed);
    }
  });
}

langchainTest('LangChain withStructuredOutput includeRaw: the raw message is the JSON text of the parsed answer', async () => {
  const { llm, requests } = chatOpenAI(11);
  const { raw, parsed } = await llm.withStructuredOutput(Pet, { includeRaw: true, name: 'pet' }).invoke('Describe a pet.');
  assertValid(Pet, parsed, 'parsed');
  assert.deepEqual(JSON.parse(raw.content), parsed);
  assert.equal(raw.response_metadata.finish_reason, 'stop');
  assert.equal(requests.length, 1);
  assert.equal(requests[0].body.response_format.json_schema.name, 'pet');
});

// ---- openai SDK ------------------------------------------------------------------

function openai() {
  const recorder = recordingFetch();
  const client = new OpenAI({ apiKey: KEY, baseURL: server.baseURL, maxRetries: 0, timeout: 60000, fetch: recorder.fetch });
  return { client, requests: recorder.requests };
}

test('openai chat.completions.parse with zodResponseFormat: message.parsed validates', async () => {
  const { client, requests } = openai();
  for (const [schema, name] of [[Pet, 'pet'], [Order, 'order']]) {
    for (const seed of SEEDS) {
      const r = await client.chat.completions.parse({
        model: MODEL, messages: [{ role: 'user', content: `Give me a ${name}.` }],
        response_format: zodResponseFormat(schema, name), max_completion_tokens: MAX_TOKENS, temperature: 1, seed,
      });
      const { message, finish_reason } = r.choices[0];
      assert.equal(finish_reason, 'stop');
      assertValid(schema, message.parsed, `${name}, seed ${seed}`);
      assert.deepEqual(JSON.parse(message.content), message.parsed);
      assert.ok(message.refusal == null, `refusal: ${message.refusal}`);
    }
  }
  assert.equal(requests.length, 2 * SEEDS.length);
  for (const { body } of requests) assert.equal(body.response_format.json_schema.strict, true);
});

test('openai completions with a prompt array: a choice per prompt, indexed 0 and 1', async () => {
  const { client } = openai();
  const r = await client.completions.create({
    model: MODEL, prompt: ['Q: What is 2 + 3?\nA:', 'Once upon a time'], max_tokens: 8, temperature: 1, seed: 5,
  });
  assert.equal(r.object, 'text_completion');
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  for (const c of r.choices) {
    assert.equal(typeof c.text, 'string');
    assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
  }
});

test('openai models.retrieve gives the entry models.list holds', async () => {
  const { client } = openai();
  const listed = (await client.models.list()).data;
  const entry = listed.find((m) => m.id === MODEL);
  assert.ok(entry, `${MODEL} in ${JSON.stringify(listed.map((m) => m.id))}`);
  assert.deepEqual({ ...(await client.models.retrieve(MODEL)) }, { ...entry });
});
