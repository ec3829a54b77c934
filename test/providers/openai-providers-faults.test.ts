import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import type { ResponderEvent } from '../../src/providers/contracts.ts';
import { OpenAIResponder } from '../../src/providers/openai/openai-responder.ts';
import { OpenAISynthesizer } from '../../src/providers/openai/openai-synthesizer.ts';
import { OpenAITranscriber } from '../../src/providers/openai/openai-transcriber.ts';
import { retryAfterOf } from '../../src/providers/openai/errors.ts';
import { DEFAULT_SYSTEM_PROMPT } from '../../src/providers/prompts.ts';
import { synthesizeAt } from '../../src/providers/synthesize-at.ts';
import { pieces, recordAnswer, writeBody, type AnswerRecord } from '../helpers/misbehaviour.ts';

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
  assert.equal(
    received.reduce((sum, part) => sum + part.samples.length, 0),
    480,
  );
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
  const limitedError = await collect(responder(limited.baseURL).respond(hello())).catch((caught: unknown) => caught);
  assert.equal((limitedError as SpeechbridgeError).retryAfterSeconds, 7);
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
      {
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'test-model',
        choices: [],
        usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
      },
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
    {
      type: 'function',
      function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
    },
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
  assert.deepEqual(sent, {
    model: 'gpt-4o-mini-tts',
    voice: 'coral',
    input: 'Hello there.',
    response_format: 'pcm',
    speed: 1.25,
    instructions: 'Speak calmly.',
  });
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
    if (request.body.toString('latin1').includes('verbose_json'))
      json(response, 400, { error: { message: "response_format 'verbose_json' is not supported" } });
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

// ── Bounds on what an upstream may send ─────────────────────────────────────────────────

/** An upstream request whose answer streams body pieces (misbehaviour.ts) after `head`, recording what it wrote. */
async function streaming(
  contentType: string,
  parts: Parameters<typeof writeBody>[2],
  extraHeaders: Record<string, string> = {},
): Promise<{ server: Upstream; answers: AnswerRecord[] }> {
  const answers: AnswerRecord[] = [];
  const server = await upstream((_, response) => {
    const record = recordAnswer('upstream', 'normal', response);
    answers.push(record);
    response.writeHead(200, { 'content-type': contentType, ...extraHeaders });
    void writeBody(response, record, parts);
  });
  return { server, answers };
}

const MB = 1024 * 1024;
/** What loopback socket buffers can hold between the two ends once a reader stops reading. */
const SOCKET_SLACK_BYTES = 16 * MB;

test('a transcription body past its bound is cut off with upstream_response_too_large and its request aborted', { timeout: 15_000 }, async () => {
  const { server, answers } = await streaming('application/json', { head: '{"text":"', piece: pieces(Infinity, Buffer.from('a')) });
  const transcriber = new OpenAITranscriber({ baseURL: server.baseURL, timeoutMs: 5000, maxResponseBytes: 64 * 1024 });
  assert.equal(transcriber.upstream, server.baseURL);
  await assert.rejects(transcriber.transcribe(second), isCode('upstream_response_too_large', server.baseURL, 'MAX_TRANSCRIPTION_KB', '64 KB'));
  await server.clientClosed;
  await answers[0].finished;
  assert.ok(answers[0].closedByClient);
  assert.ok(answers[0].bytesWritten < SOCKET_SLACK_BYTES, `the upstream wrote ${answers[0].bytesWritten} bytes of an endless body`);
});

test('a transcription body that declares a length past the bound is refused before it is read', { timeout: 15_000 }, async () => {
  const { server, answers } = await streaming(
    'application/json',
    { head: '{"text":"aaaa', piece: () => Buffer.from('a'), everyMs: 1000 },
    { 'content-length': String(50 * MB) },
  );
  const transcriber = new OpenAITranscriber({ baseURL: server.baseURL, timeoutMs: 10_000, maxResponseBytes: MB });
  const started = performance.now();
  await assert.rejects(transcriber.transcribe(second), isCode('upstream_response_too_large', '1 MB'));
  // Refused on the header: long before the body could have come, or REQUEST_TIMEOUT passed.
  assert.ok(performance.now() - started < 5000, 'the refusal waited for the body');
  await server.clientClosed;
  assert.ok(answers[0].bytesWritten < 100);
});

test('an LLM stream that never ends stops at the character bound and its request is aborted', { timeout: 15_000 }, async () => {
  const delta = `data: ${JSON.stringify(chunk({ content: 'la la la ' }))}\n\n`;
  const { server, answers } = await streaming('text/event-stream', { piece: () => delta });
  const bounded = new OpenAIResponder({ baseURL: server.baseURL, model: 'test-model', timeoutMs: 5000, maxOutputChars: 1000 });
  let text = '';
  await assert.rejects(
    (async () => {
      for await (const event of bounded.respond(hello())) if (event.type === 'text.delta') text += event.text;
    })(),
    isCode('upstream_response_too_large', server.baseURL, 'MAX_RESPONSE_CHARS', '1000 characters'),
  );
  assert.ok(text.length <= 1000 && text.length > 900, `${text.length} characters passed on`);
  await server.clientClosed;
  await answers[0].finished;
  assert.ok(answers[0].closedByClient);
});

test('an LLM stream of empty chunks, or one endless line, stops at the byte bound', { timeout: 15_000 }, async () => {
  const empty = `data: ${JSON.stringify(chunk({}))}\n\n`;
  const chunks = await streaming('text/event-stream', { piece: () => empty });
  const bounded = (baseURL: string) => new OpenAIResponder({ baseURL, model: 'test-model', timeoutMs: 5000, maxOutputChars: 100 });
  await assert.rejects(collect(bounded(chunks.server.baseURL).respond(hello())), isCode('upstream_response_too_large', chunks.server.baseURL, '25 KB'));
  await chunks.server.clientClosed;

  const line = await streaming('text/event-stream', { head: 'data: {"choices":[{"delta":{"content":"', piece: pieces(Infinity, Buffer.from('la ')) });
  await assert.rejects(collect(bounded(line.server.baseURL).respond(hello())), isCode('upstream_response_too_large', line.server.baseURL));
  await line.server.clientClosed;
  assert.ok(line.answers[0].bytesWritten < SOCKET_SLACK_BYTES, `the upstream wrote ${line.answers[0].bytesWritten} bytes of one line`);
});

test('an LLM stream that drips ends with upstream_timeout after the total, not only an idle gap', { timeout: 15_000 }, async () => {
  const delta = `data: ${JSON.stringify(chunk({ content: 'la ' }))}\n\n`;
  const { server, answers } = await streaming('text/event-stream', { piece: () => delta, everyMs: 100 });
  const dripping = new OpenAIResponder({ baseURL: server.baseURL, model: 'test-model', timeoutMs: 400, responseTimeoutMs: 1200 });
  const started = performance.now();
  const seen: ResponderEvent[] = [];
  await assert.rejects(
    (async () => {
      for await (const event of dripping.respond(hello())) seen.push(event);
    })(),
    isCode('upstream_timeout', server.baseURL, '1200 ms', 'RESPONSE_TIMEOUT'),
  );
  const elapsed = performance.now() - started;
  // Each gap (100 ms) is far inside the idle timeout: only the total can have ended it.
  assert.ok(seen.length > 5, `only ${seen.length} deltas arrived`);
  assert.ok(elapsed >= 1100 && elapsed < 1200 + 2000, `ended after ${Math.round(elapsed)} ms`);
  await server.clientClosed;
  await answers[0].finished;
  assert.ok(answers[0].closedByClient);
});

test('max_tokens is always sent, capped by MAX_RESPONSE_TOKENS, and 0 sends none unless asked', async () => {
  const server = await upstream((_, response) => sse(response, [chunk({ content: 'ok' }), chunk({}, 'stop')]));
  const sent = (index: number) => JSON.parse(server.requests[index].body.toString('utf8')) as Record<string, unknown>;
  const capped = new OpenAIResponder({ baseURL: server.baseURL, model: 'test-model', timeoutMs: 5000 });
  await collect(capped.respond(hello()));
  await collect(capped.respond({ ...hello(), maxOutputTokens: 100 }));
  await collect(capped.respond({ ...hello(), maxOutputTokens: 100_000 }));
  const open = new OpenAIResponder({ baseURL: server.baseURL, model: 'test-model', timeoutMs: 5000, maxOutputTokens: 0 });
  await collect(open.respond(hello()));
  await collect(open.respond({ ...hello(), maxOutputTokens: 50 }));
  assert.deepEqual(
    server.requests.map((_, index) => sent(index).max_tokens),
    [4096, 100, 4096, undefined, 50],
  );
});

test('an upstream that wants max_completion_tokens gets one retry with it, then keeps it', async () => {
  const server = await upstream((request, response) => {
    const sent = JSON.parse(request.body.toString('utf8'));
    if ('max_tokens' in sent) {
      json(response, 400, {
        error: {
          message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
          type: 'invalid_request_error',
          param: 'max_tokens',
          code: 'unsupported_parameter',
        },
      });
    } else sse(response, [chunk({ content: 'ok' }), chunk({}, 'stop')]);
  });
  const provider = responder(server.baseURL);
  for (let i = 0; i < 2; i++)
    assert.deepEqual(await collect(provider.respond(hello())), [
      { type: 'text.delta', text: 'ok' },
      { type: 'done', finishReason: 'stop' },
    ]);
  assert.deepEqual(
    server.requests.map((request) => {
      const sent = JSON.parse(request.body.toString('utf8'));
      return [sent.max_tokens, sent.max_completion_tokens, 'stream_options' in sent];
    }),
    [
      [4096, undefined, true],
      [undefined, 4096, true],
      [undefined, 4096, true],
    ],
  );
});

test('a speech upstream answering 200 with no audio fails with upstream_bad_response', async () => {
  const server = await upstream((_, response) => {
    response.writeHead(200, { 'content-type': 'audio/pcm' });
    response.end();
  });
  const synthesizer = new OpenAISynthesizer({ baseURL: server.baseURL, timeoutMs: 5000 });
  await assert.rejects(collect(synthesizer.synthesize({ text: 'Hello there.' })), isCode('upstream_bad_response', server.baseURL, 'no audio'));
});

test('a speech upstream that drips ends with upstream_timeout after the total', { timeout: 15_000 }, async () => {
  const { server, answers } = await streaming('audio/pcm', { piece: () => Buffer.alloc(960), everyMs: 100 });
  const synthesizer = new OpenAISynthesizer({ baseURL: server.baseURL, timeoutMs: 400, responseTimeoutMs: 1000 });
  await assert.rejects(collect(synthesizer.synthesize({ text: 'Hello there.' })), isCode('upstream_timeout', server.baseURL, 'RESPONSE_TIMEOUT'));
  await server.clientClosed;
  await answers[0].finished;
  assert.ok(answers[0].closedByClient);
});

test('speech past an audio bound stops with upstream_response_too_large and aborts the request', { timeout: 15_000 }, async () => {
  const { server, answers } = await streaming('audio/pcm', { piece: pieces(Infinity, Buffer.alloc(2)) });
  const synthesizer = new OpenAISynthesizer({ baseURL: server.baseURL, timeoutMs: 5000 });
  let samples = 0;
  await assert.rejects(
    (async () => {
      const limit = { maxMs: 2000, per: 'one sentence', setting: 'MAX_SENTENCE_AUDIO_SECONDS' };
      for await (const chunk of synthesizeAt(synthesizer, 16000, { text: 'Hello there.' }, limit)) samples += chunk.length;
    })(),
    isCode('upstream_response_too_large', server.baseURL, '2 s', 'one sentence', 'MAX_SENTENCE_AUDIO_SECONDS'),
  );
  assert.ok(samples <= 2 * 16000, `${samples} samples passed on for a 2 s bound`);
  await server.clientClosed;
  await answers[0].finished;
  assert.ok(answers[0].bytesWritten < SOCKET_SLACK_BYTES, `the upstream wrote ${answers[0].bytesWritten} bytes`);
});

test("an upstream's Retry-After is read as seconds or a date and clamped to 1 s – 1 hour", () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const of = (headers: Record<string, string>) => retryAfterOf(new Headers(headers), now);
  assert.equal(of({ 'retry-after': '7' }), 7);
  assert.equal(of({ 'retry-after': '2.5' }), 3);
  assert.equal(of({ 'retry-after-ms': '1500', 'retry-after': '9' }), 2);
  assert.equal(of({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }), 30);
  assert.equal(of({ 'retry-after': '0' }), 1);
  assert.equal(of({ 'retry-after': '99999999' }), 3600);
  assert.equal(of({ 'retry-after': 'soon' }), undefined);
  assert.equal(of({}), undefined);
});
