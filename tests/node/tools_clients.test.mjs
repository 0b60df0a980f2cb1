// `entropix serve`'s function calling under the client libraries, through
// OpenAI's standard API: the openai SDK (a named tool_choice among two tools,
// "required", a streamed call reassembled from its deltas, the follow-up with the
// tool's result, zodFunction's parsed arguments), the Vercel AI SDK (streamText
// with toolChoice 'required') and LangChain.js (bindTools with tool_choice "any"
// and "required", withStructuredOutput by function calling). The demo model's
// arguments are nonsense; what is checked is what grammar-constrained decoding
// guarantees: every call names a declared function, and its arguments are JSON
// that ajv finds valid against that function's parameters, on the client's first
// request (maxRetries 0, requests counted).
//
// Run through ctest (ENTROPIX_BINARY, ENTROPIX_SOURCE_DIR) after `npm ci` in this
// folder (scripts/setup.sh does it). Without the packages it fails under CI=true
// and is skipped (exit 77) otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  requirePackagesAndBinary, startServer, stopServer, recordingFetch, testOnNode, schemaAssertion,
} from './entropix_server.mjs';

const binary = requirePackagesAndBinary('tools_clients',
  ['ai', '@ai-sdk/openai-compatible', '@langchain/openai', '@langchain/core', 'openai', 'zod', 'ajv']);
const { z } = await import('zod');
const { streamText, tool: aiTool } = await import('ai');
const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
const { ChatOpenAI } = await import('@langchain/openai');
const { tool: langchainTool } = await import('@langchain/core/tools');
const { default: OpenAI } = await import('openai');
const { zodFunction } = await import('openai/helpers/zod');

const KEY = 'test-key';
const MODEL = 'demo';  // an alias of the demo model
const SEEDS = [1, 2, 3];
const MAX_TOKENS = 200;  // above what the longest call takes (the strings are bounded)
const ASK = [{ role: 'user', content: 'What is the weather in Paris, and what time is it there?' }];

const Weather = z.object({ city: z.string().max(20), unit: z.enum(['celsius', 'fahrenheit']) });
const Time = z.object({ timezone: z.string().max(20), hours: z.number().int().min(0).max(23) });
const Pet = z.object({
  name: z.string().max(16),
  kind: z.enum(['cat', 'dog', 'fish']),
  tags: z.array(z.string().max(8)).max(2),
});
const PARAMETERS = { get_weather: z.toJSONSchema(Weather), get_time: z.toJSONSchema(Time), pet: z.toJSONSchema(Pet) };
const TOOLS = [  // the two functions the openai tests declare
  { type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: PARAMETERS.get_weather } },
  { type: 'function', function: { name: 'get_time', description: 'The time in a time zone', parameters: PARAMETERS.get_time } },
];

const assertValid = await schemaAssertion();  // (jsonSchema, value, what)

// Asserts that a chat message's tool_calls are well formed, name declared
// functions (only `names` if given) and carry valid arguments; returns them.
function assertToolCalls(message, what, names = TOOLS.map((t) => t.function.name)) {
  const calls = message.tool_calls;
  assert.ok(Array.isArray(calls) && calls.length >= 1, `${what}: tool_calls ${JSON.stringify(calls)}`);
  const ids = new Set();
  for (const call of calls) {
    assert.equal(call.type, 'function', what);
    assert.ok(typeof call.id === 'string' && call.id.length > 0, `${what}: id ${call.id}`);
    ids.add(call.id);
    assert.ok(names.includes(call.function.name), `${what}: ${call.function.name} is not one of ${names}`);
    assertValid(PARAMETERS[call.function.name], JSON.parse(call.function.arguments), `${what}: ${call.function.name}`);
  }
  assert.equal(ids.size, calls.length, `${what}: the ids differ`);
  return calls;
}

let server;

before(async () => {
  server = await startServer(binary, ['--api-key', KEY, '-t', '1', '-c', '4096', '--parallel', '4', '--alias', MODEL]);
});

after(() => stopServer(server));

// ---- openai SDK ------------------------------------------------------------------

function openai() {
  const recorder = recordingFetch();
  const client = new OpenAI({ apiKey: KEY, baseURL: server.baseURL, maxRetries: 0, timeout: 60000, fetch: recorder.fetch });
  return { client, requests: recorder.requests };
}

const chat = (seed, extra) => ({ model: MODEL, messages: ASK, tools: TOOLS, max_tokens: MAX_TOKENS, temperature: 1, seed, ...extra });

test('openai: a named tool_choice calls that function, with valid arguments', async () => {
  const { client } = openai();
  for (const seed of SEEDS) {
    const r = await client.chat.completions.create(chat(seed, {
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    }));
    const { message, finish_reason } = r.choices[0];
    assert.equal(finish_reason, 'tool_calls', `seed ${seed}`);
    assert.equal(message.role, 'assistant');
    const calls = assertToolCalls(message, `seed ${seed}`, ['get_weather']);
    assert.equal(calls.length, 1, `seed ${seed}: one call of the named function`);
  }
});

test('openai: tool_choice "required" calls a declared function, with valid arguments', async () => {
  const { client } = openai();
  for (const seed of SEEDS) {
    const r = await client.chat.completions.create(chat(seed, { tool_choice: 'required' }));
    assert.equal(r.choices[0].finish_reason, 'tool_calls', `seed ${seed}`);
    assertToolCalls(r.choices[0].message, `seed ${seed}`);
  }
});

test('openai: a streamed "required" call reassembles from its deltas into the whole answer\'s call', async () => {
  const { client } = openai();
  for (const seed of SEEDS) {
    const calls = [];
    let finish = null;
    for await (const chunk of await client.chat.completions.create(chat(seed, { tool_choice: 'required', stream: true }))) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      for (const delta of choice.delta.tool_calls ?? []) {
        assert.ok(Number.isInteger(delta.index), `seed ${seed}: delta index ${delta.index}`);
        if (!calls[delta.index]) {
          // The first delta of a call names it: index, id, type and function name.
          assert.ok(typeof delta.id === 'string' && delta.id.length > 0, `seed ${seed}: first delta ${JSON.stringify(delta)}`);
          assert.equal(delta.type, 'function');
          assert.ok(typeof delta.function?.name === 'string', `seed ${seed}: first delta ${JSON.stringify(delta)}`);
          calls[delta.index] = { id: delta.id, type: 'function', function: { name: delta.function.name, arguments: '' } };
        } else {
          assert.ok(delta.id === undefined || delta.id === calls[delta.index].id, `seed ${seed}: a later delta's id`);
        }
        calls[delta.index].function.arguments += delta.function?.arguments ?? '';
      }
      finish = choice.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls', `seed ${seed}`);
    assert.equal(Object.keys(calls).length, calls.length, `seed ${seed}: the indexes run from 0`);
    assertToolCalls({ tool_calls: calls }, `seed ${seed}, streamed`);
    // The same seed gives the same calls whole (ids aside).
    const whole = await client.chat.completions.create(chat(seed, { tool_choice: 'required' }));
    const strip = (cs) => cs.map((c) => c.function);
    assert.deepEqual(strip(calls), strip(whole.choices[0].message.tool_calls), `seed ${seed}: streamed and whole`);
  }
});

test('openai: the follow-up with the assistant\'s tool_calls and the tool\'s result is answered', async () => {
  const { client } = openai();
  const first = await client.chat.completions.create(chat(4, { tool_choice: 'required' }));
  const calls = assertToolCalls(first.choices[0].message, 'first');
  const messages = [
    ...ASK,
    { role: 'assistant', content: null, tool_calls: calls },
    ...calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: JSON.stringify({ ok: true, value: 21 }) })),
  ];
  const { data, response } = await client.chat.completions.create({
    model: MODEL, messages, tools: TOOLS, max_tokens: 40, temperature: 1, seed: 4,
  }).withResponse();
  assert.equal(response.status, 200);
  const { message, finish_reason } = data.choices[0];
  assert.equal(message.role, 'assistant');
  if (finish_reason === 'tool_calls') assertToolCalls(message, 'follow-up');
  else {
    assert.ok(['stop', 'length'].includes(finish_reason), finish_reason);
    assert.equal(typeof message.content, 'string');
  }
  assert.ok(data.usage.prompt_tokens > first.usage.prompt_tokens, 'the call and its result are in the prompt');
});

test('openai chat.completions.parse with zodFunction: parsed_arguments validate', async () => {
  const { client, requests } = openai();
  for (const seed of SEEDS) {
    const r = await client.chat.completions.parse({
      model: MODEL, messages: ASK, max_tokens: MAX_TOKENS, temperature: 1, seed,
      tools: [zodFunction({ name: 'get_weather', parameters: Weather })],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const [call] = r.choices[0].message.tool_calls;
    assert.equal(call.function.name, 'get_weather');
    assertValid(PARAMETERS.get_weather, call.function.parsed_arguments, `seed ${seed}`);
  }
  for (const { body } of requests) assert.equal(body.tools[0].function.strict, true);
});

// ---- Vercel AI SDK -------------------------------------------------------------

test('AI SDK streamText with toolChoice "required": a tool call whose input validates', async () => {
  const recorder = recordingFetch();
  const provider = createOpenAICompatible({ name: 'entropix', baseURL: server.baseURL, apiKey: KEY, fetch: recorder.fetch });
  for (const seed of SEEDS) {
    let failure;
    const result = streamText({
      model: provider(MODEL), messages: ASK, toolChoice: 'required', maxOutputTokens: MAX_TOKENS, temperature: 1, seed,
      maxRetries: 0, onError: ({ error }) => { failure ??= error; },
      tools: { get_weather: aiTool({ description: 'The weather in a city', inputSchema: Weather }) },
    });
    await result.consumeStream();
    if (failure) throw failure;
    const calls = await result.toolCalls;
    assert.ok(calls.length >= 1, `seed ${seed}: ${calls.length} tool calls`);
    for (const call of calls) {
      assert.equal(call.toolName, 'get_weather');
      assert.ok(!call.invalid, `seed ${seed}: invalid call ${JSON.stringify(call)}`);
      assertValid(PARAMETERS.get_weather, call.input, `seed ${seed}`);
    }
    assert.equal(await result.finishReason, 'tool-calls');
  }
  assert.equal(recorder.requests.length, SEEDS.length);
  for (const { body } of recorder.requests) {
    assert.equal(body.tool_choice, 'required');
    assert.equal(body.stream, true);
  }
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

const weatherTool = langchainTool(async ({ city }) => `sunny in ${city}`,
  { name: 'get_weather', description: 'The weather in a city', schema: Weather });

for (const toolChoice of ['any', 'required']) {
  langchainTest(`LangChain bindTools with tool_choice "${toolChoice}": tool_calls on the AIMessage, valid on the first request`, async () => {
    for (const seed of SEEDS) {
      const { llm, requests } = chatOpenAI(seed);
      const message = await llm.bindTools([weatherTool], { tool_choice: toolChoice }).invoke(ASK[0].content);
      assert.ok(message.tool_calls.length >= 1, `seed ${seed}: ${JSON.stringify(message)}`);
      assert.deepEqual(message.invalid_tool_calls ?? [], [], `seed ${seed}`);
      for (const call of message.tool_calls) {
        assert.equal(call.name, 'get_weather');
        assertValid(PARAMETERS.get_weather, call.args, `seed ${seed}`);
      }
      assert.equal(requests.length, 1, `seed ${seed}: one request`);
      assert.equal(requests[0].body.tool_choice, 'required');
    }
  });
}

langchainTest('LangChain withStructuredOutput by functionCalling: valid on the first request', async () => {
  for (const seed of SEEDS) {
    const { llm, requests } = chatOpenAI(seed);
    const answer = await llm.withStructuredOutput(Pet, { method: 'functionCalling', name: 'pet' }).invoke('Describe a pet.');
    assertValid(PARAMETERS.pet, answer, `seed ${seed}`);
    assert.equal(requests.length, 1, `seed ${seed}: one request`);
    assert.deepEqual(requests[0].body.tool_choice, { type: 'function', function: { name: 'pet' } });
  }
});
