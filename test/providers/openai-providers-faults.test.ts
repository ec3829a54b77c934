import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { SpeechbridgeError } from '../../src/engine/errors.ts';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import type { ResponderEvent } from '../../src/providers/contracts.ts';
import { OpenAIResponder } from '../../src/providers/openai/openai-responder.ts';
import { OpenAISynthesizer } from '../../src/providers/openai/openai-synthesizer.ts';
import { OpenAITranscriber } from '../../src/providers/openai/openai-transcriber.ts';
import { DEFAULT_SYSTEM_PROMPT } from '../../src/providers/prompts.ts';

// ── A scriptable local upstream ─────────────────────────────────────────────────────────

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

interface Upstream {
  baseURL: string;
  requests: SeenRequest[];
  /** Resolves when a request's connection closes before the server ended its response. */
  clientClosed: Promise<void>;
  close(): Promise<void>;
}

type Handler = (request: SeenRequest, response: ServerResponse, index: number) => void;

const upstreams: Upstream[] = [];
after(async () => {
  await Promise.all(upstreams.map((upstream) => upstream.close()));
});

async function upstream(handler: Handler): Promise<Upstream> {
  const requests: SeenRequest[] = [];
  let markClosed: () => void = () => {};
  const clientClosed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) };
      requests.push(seen);
      res.on('close', () => {
        if (!res.writableEnded) markClosed();
      });
      handler(seen, res, requests.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const instance: Upstream = {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    clientClosed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  upstreams.push(instance);
  return instance;
}

/** A port nothing listens on: bound once, then released. */
async function closedPortURL(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/v1`;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function sse(response: ServerResponse, chunks: unknown[], done = true): void {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const chunk of chunks) response.write(`data: ${JSON.stringify(chunk)}\n\n`);
  if (done) response.end('data: [DONE]\n\n');
}

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): unknown {
  return { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'test-model', choices: [{ index: 0, delta, finish_reason: finishReason }] };
}

const KEY = 'sk-test-secret-0123456789';
const second: PcmAudio = { samples: new Int16Array(16000), sampleRate: 16000 };

function responder(baseURL: string, timeoutMs = 5000): OpenAIResponder {
  return new OpenAIResponder({ baseURL, apiKey: KEY, apiKeyName: 'OPENAI_API_KEY', model: 'test-model', timeoutMs });
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function hello(): Parameters<OpenAIResponder['respond']>[0] {
  return { mode: 'reply', messages: [{ role: 'user', content: 'hello' }] };
}

function isCode(code: string, ...fragments: string[]) {
  return (error: unknown) => {
    assert.ok(error instanceof SpeechbridgeError, `expected a SpeechbridgeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    assert.ok(!error.message.includes(KEY), `the message leaks the key: ${error.message}`);
    return true;
  };
}

// ── Faults ──────────────────────────────────────────────────────────────────────────────

test('a 500 with an error body becomes upstream_error naming the upstream and the status', async () => {
  const server = await upstream((_, response) => json(response, 500, { error: { message: 'model crashed', type: 'server_error' } }));
  await assert.rejects(collect(responder(server.baseURL).respond(hello())), isCode('upstream_error', '500', server.baseURL, 'model crashed'));
  const transcriber = new OpenAITranscriber({ baseURL: server.baseURL, apiKey: KEY, timeoutMs: 5000 });
  await assert.rejects(transcriber.transcribe(second), isCode('upstream_error', '500', server.baseURL));
});

test('an upstream that never answers gives upstream_timeout after timeoutMs', { timeout: 10_000 }, async () => {
  const server = await upstream(() => {});
  await assert.rejects(collect(responder(server.baseURL, 300).respond(hello())), isCode('upstream_timeout', server.baseURL, '300 ms'));
  const transcriber = new OpenAITranscriber({ baseURL: server.baseURL, timeoutMs: 300 });
  await assert.rejects(transcriber.transcribe(second), isCode('upstream_timeout', '300 ms'));
  const synthesizer = new OpenAISynthesizer({ baseURL: server.baseURL, timeoutMs: 300 });
  await assert.rejects(collect(synthesizer.synthesize({ text: 'hi' })), isCode('upstream_timeout', '300 ms'));
});

test('a stream that stalls after its first data times out too', { timeout: 10_000 }, async () => {
  const server = await upstream((_, response) => {
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    response.write(Buffer.alloc(960));
  });
  const synthesizer = new OpenAISynthesizer({ baseURL: server.baseURL, timeoutMs: 300 });
  const received: PcmAudio[] = [];
  await assert.rejects(
    (async () => {
      for await (const part of synthesizer.synthesize({ text: 'hi' })) received.push(part);
    })(),
    isCode('upstream_timeout'),
  );
  assert.equal(received.reduce((sum, part) => sum + part.samples.length, 0), 480);
});

test('connection refused gives upstream_unreachable naming the upstream', async () => {
  const baseURL = await closedPortURL();
  await assert.rejects(collect(responder(baseURL).respond(hello())), isCode('upstream_unreachable', baseURL, 'ECONNREFUSED'));
  const transcriber = new OpenAITranscriber({ baseURL, timeoutMs: 5000 });
  await assert.rejects(transcriber.transcribe(second), isCode('upstream_unreachable', baseURL));
});

test('garbage bodies give upstream_bad_response', async () => {
  const notJson = await upstream((_, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"text": "unterminated');
  });
  const transcriber = new OpenAITranscriber({ baseURL: notJson.baseURL, timeoutMs: 5000 });
  await assert.rejects(transcriber.transcribe(second), isCode('upstream_bad_response', notJson.baseURL));

  const html = await upstream((_, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<html><body>Please log in</body></html>');
  });
  await assert.rejects(new OpenAITranscriber({ baseURL: html.baseURL, timeoutMs: 5000 }).transcribe(second), isCode('upstream_bad_response'));
  await assert.rejects(collect(new OpenAISynthesizer({ baseURL: html.baseURL, timeoutMs: 5000 }).synthesize({ text: 'hi' })), isCode('upstream_bad_response'));
  // An HTML page where a chat stream was expected carries no events at all.
  await assert.rejects(collect(responder(html.baseURL).respond(hello())), isCode('upstream_bad_response'));

  const badEvents = await upstream((_, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.end('data: {not json at all\n\n');
  });
  await assert.rejects(collect(responder(badEvents.baseURL).respond(hello())), isCode('upstream_bad_response'));
});

test('a 401 becomes an upstream auth error that names the setting but never the key', async () => {
  const server = await upstream((request, response) =>
    json(response, 401, { error: { message: `Incorrect API key provided: ${String(request.headers.authorization).slice(7)}`, type: 'invalid_request_error' } }),
  );
  await assert.rejects(collect(responder(server.baseURL).respond(hello())), isCode('upstream_error', '401', 'OPENAI_API_KEY', server.baseURL));
  assert.equal(server.requests[0].headers.authorization, `Bearer ${KEY}`);
  const error = await collect(responder(server.baseURL).respond(hello())).catch((caught: unknown) => caught);
  const cause = (error as SpeechbridgeError).cause;
  assert.ok(!String((cause as Error | undefined)?.message).includes(KEY), 'the cause leaks the key');
});

test('a 429 becomes upstream_rate_limited and a 404 upstream_error', async () => {
  const limited = await upstream((_, response) => {
    response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
    response.end(JSON.stringify({ error: { message: 'slow down' } }));
  });
  await assert.rejects(collect(responder(limited.baseURL).respond(hello())), isCode('upstream_rate_limited', '429', '7 s'));
  const missing = await upstream((_, response) => json(response, 404, { error: { message: 'no such model' } }));
  await assert.rejects(collect(responder(missing.baseURL).respond(hello())), isCode('upstream_error', '404', 'no such model'));
});

// ── Working streams ─────────────────────────────────────────────────────────────────────

test('a chat completion stream gives text deltas, tool call deltas, finish reason and usage', async () => {
  const server = await upstream((_, response) =>
    sse(response, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Let me ' }),
      chunk({ content: 'check.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({}, 'tool_calls'),
      { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'test-model', choices: [], usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 } },
    ]),
  );
  const events = await collect(
    responder(server.baseURL).respond({
      mode: 'reply',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: '', toolCalls: [{ callId: 'call_0', name: 'get_time', arguments: '{}' }] },
        { role: 'tool', callId: 'call_0', content: '12:00' },
      ],
      tools: [{ name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
      toolChoice: 'auto',
      temperature: 0.5,
    }),
  );
  assert.deepEqual(events, [
    { type: 'text.delta', text: 'Let me ' },
    { type: 'text.delta', text: 'check.' },
    { type: 'tool_call.delta', index: 0, callId: 'call_1', name: 'get_weather', argumentsDelta: '' },
    { type: 'tool_call.delta', index: 0, argumentsDelta: '{"city":' },
    { type: 'tool_call.delta', index: 0, argumentsDelta: '"Paris"}' },
    { type: 'done', finishReason: 'tool_calls', usage: { inputTokens: 12, outputTokens: 9 } },
  ] satisfies ResponderEvent[]);

  const sent = JSON.parse(server.requests[0].body.toString('utf8'));
  assert.equal(server.requests[0].url, '/v1/chat/completions');
  assert.equal(sent.model, 'test-model');
  assert.equal(sent.stream, true);
  assert.deepEqual(sent.stream_options, { include_usage: true });
  assert.equal(sent.temperature, 0.5);
  assert.deepEqual(sent.messages[0], { role: 'system', content: DEFAULT_SYSTEM_PROMPT });
  assert.deepEqual(sent.messages.slice(1), [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_0', content: '12:00' },
  ]);
  assert.deepEqual(sent.tools, [
    { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
  ]);
  assert.equal(sent.tool_choice, 'auto');
});

test('translate mode states the target language in the system prompt', async () => {
  const server = await upstream((_, response) => sse(response, [chunk({ content: 'Bonjour' }), chunk({}, 'stop')]));
  const events = await collect(responder(server.baseURL).respond({ mode: 'translate', targetLanguage: 'fr', messages: [{ role: 'user', content: 'Hello' }] }));
  assert.deepEqual(events.at(-1), { type: 'done', finishReason: 'stop' });
  const sent = JSON.parse(server.requests[0].body.toString('utf8'));
  assert.match(sent.messages[0].content, /into French/);
});

test('an upstream that rejects stream_options gets one retry without it, then never again', async () => {
  const server = await upstream((request, response) => {
    const sent = JSON.parse(request.body.toString('utf8'));
    if (sent.stream_options) json(response, 400, { error: { message: 'Unrecognized request argument: stream_options' } });
    else sse(response, [chunk({ content: 'ok' }), chunk({}, 'stop')]);
  });
  const provider = responder(server.baseURL);
  for (let i = 0; i < 2; i++) {
    const events = await collect(provider.respond(hello()));
    assert.deepEqual(events, [
      { type: 'text.delta', text: 'ok' },
      { type: 'done', finishReason: 'stop' },
    ]);
  }
  assert.deepEqual(
    server.requests.map((request) => 'stream_options' in JSON.parse(request.body.toString('utf8'))),
    [true, false, false],
  );
});

test('aborting mid-stream ends with an AbortError and closes the upstream request', { timeout: 10_000 }, async () => {
  const server = await upstream((_, response) => sse(response, [chunk({ content: 'first ' })], false));
  const controller = new AbortController();
  const seen: ResponderEvent[] = [];
  await assert.rejects(
    (async () => {
      for await (const event of responder(server.baseURL).respond({ ...hello(), signal: controller.signal })) {
        seen.push(event);
        controller.abort();
      }
    })(),
    { name: 'AbortError' },
  );
  assert.deepEqual(seen, [{ type: 'text.delta', text: 'first ' }]);
  await server.clientClosed;
  assert.equal(server.requests.length, 1);
});

test('stopping the synthesizer stream early closes the upstream request', { timeout: 10_000 }, async () => {
  const server = await upstream((_, response) => {
    response.writeHead(200, { 'content-type': 'audio/pcm' });
    response.write(Buffer.alloc(4800));
  });
  const synthesizer = new OpenAISynthesizer({ baseURL: server.baseURL, timeoutMs: 5000 });
  for await (const part of synthesizer.synthesize({ text: 'hello' })) {
    assert.equal(part.sampleRate, 24000);
    break;
  }
  await server.clientClosed;
});

test('the synthesizer streams PCM across odd chunk boundaries and applies default instructions', async () => {
  const samples = Int16Array.from({ length: 1001 }, (_, i) => ((i * 977) % 65536) - 32768);
  const bytes = Buffer.from(samples.buffer);
  const server = await upstream((_, response) => {
    response.writeHead(200, { 'content-type': 'audio/pcm' });
    // Odd-sized writes, each flushed separately, so samples straddle chunk boundaries.
    const sizes = [3, 5, 7, 1, 999, 1001];
    let offset = 0;
    const writeNext = () => {
      if (offset >= bytes.length) {
        response.end();
        return;
      }
      const size = sizes.shift() ?? bytes.length - offset;
      response.write(bytes.subarray(offset, offset + size));
      offset += size;
      setTimeout(writeNext, 2);
    };
    writeNext();
  });
  const synthesizer = new OpenAISynthesizer({ baseURL: server.baseURL, timeoutMs: 5000, defaultInstructions: 'Speak calmly.' });
  const parts = await collect(synthesizer.synthesize({ text: 'Hello there.', voice: 'coral', speed: 1.25 }));
  assert.ok(parts.length > 1, `one chunk only: ${parts.length}`);
  const received = Int16Array.from(parts.flatMap((part) => [...part.samples]));
  assert.deepEqual(received, samples);
  const sent = JSON.parse(server.requests[0].body.toString('utf8'));
  assert.equal(server.requests[0].url, '/v1/audio/speech');
  assert.deepEqual(sent, { model: 'gpt-4o-mini-tts', voice: 'coral', input: 'Hello there.', response_format: 'pcm', speed: 1.25, instructions: 'Speak calmly.' });
});

test('the transcriber sends a WAV and reads language and segments from verbose_json', async () => {
  const server = await upstream((_, response) =>
    json(response, 200, {
      text: ' Hello world. ',
      language: 'english',
      duration: 1,
      segments: [{ id: 0, start: 0, end: 0.52, text: ' Hello world.' }],
    }),
  );
  const transcriber = new OpenAITranscriber({ baseURL: server.baseURL, timeoutMs: 5000 });
  const result = await transcriber.transcribe(second, { prompt: 'greeting', temperature: 0 });
  assert.deepEqual(result, { text: 'Hello world.', language: 'en', durationMs: 1000, segments: [{ startMs: 0, endMs: 520, text: 'Hello world.' }] });
  const body = server.requests[0].body.toString('latin1');
  assert.equal(server.requests[0].url, '/v1/audio/transcriptions');
  assert.match(String(server.requests[0].headers['content-type']), /multipart\/form-data/);
  assert.ok(body.includes('RIFF') && body.includes('WAVE'), 'no WAV file in the upload');
  assert.match(body, /name="response_format"\r\n\r\nverbose_json/);
  assert.match(body, /name="model"\r\n\r\nwhisper-1/);
  assert.match(body, /name="prompt"\r\n\r\ngreeting/);
  assert.equal(server.requests[0].body.length > 32000, true, 'the upload is smaller than one second of 16-bit audio');
});

test('the transcriber falls back to json when verbose_json is rejected, and remembers it', async () => {
  const server = await upstream((request, response) => {
    if (request.body.toString('latin1').includes('verbose_json')) json(response, 400, { error: { message: "response_format 'verbose_json' is not supported" } });
    else json(response, 200, { text: 'plain text' });
  });
  const transcriber = new OpenAITranscriber({ baseURL: server.baseURL, timeoutMs: 5000 });
  const first = await transcriber.transcribe(second, { language: 'de' });
  assert.deepEqual(first, { text: 'plain text', language: 'de', durationMs: 1000, segments: [] });
  await transcriber.transcribe(second);
  assert.deepEqual(
    server.requests.map((request) => (request.body.toString('latin1').includes('verbose_json') ? 'verbose_json' : 'json')),
    ['verbose_json', 'json', 'json'],
  );
});
