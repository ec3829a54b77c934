/**
 * The Wyoming framing: events written and read back whatever way TCP cuts the bytes, the data
 * section merged over the header's data, and bytes that are not the format, or are too big,
 * refused with a clear message while holding no more than the limits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeEvent, WYOMING_PROTOCOL_VERSION, WyomingEventParser, WyomingFramingError, type WyomingEvent } from '../../src/providers/wyoming/framing.ts';

/** Three events as the reference Python writer lays them out (json.dumps separators, data in the data section). */
function pythonStyle(): Buffer {
  const describe = Buffer.from('{"type": "describe", "version": "1.7.0"}\n');
  const chunkData = Buffer.from('{"rate": 16000, "width": 2, "channels": 1, "timestamp": 20}');
  const payload = Buffer.from([1, 0, 255, 127, 0, 128]);
  const chunk = Buffer.concat([
    Buffer.from(`{"type": "audio-chunk", "version": "1.7.0", "data_length": ${chunkData.byteLength}, "payload_length": ${payload.byteLength}}\n`),
    chunkData,
    payload,
  ]);
  const transcriptData = Buffer.from('{"text": "héllo wörld", "language": "en"}', 'utf8');
  const transcript = Buffer.concat([Buffer.from(`{"type": "transcript", "version": "1.7.0", "data_length": ${transcriptData.byteLength}}\n`), transcriptData]);
  return Buffer.concat([describe, chunk, transcript]);
}

const EXPECTED: WyomingEvent[] = [
  { type: 'describe', data: {} },
  { type: 'audio-chunk', data: { rate: 16000, width: 2, channels: 1, timestamp: 20 }, payload: Buffer.from([1, 0, 255, 127, 0, 128]) },
  { type: 'transcript', data: { text: 'héllo wörld', language: 'en' } },
];

function parseAll(pieces: Buffer[]): WyomingEvent[] {
  const parser = new WyomingEventParser();
  const events = pieces.flatMap((piece) => parser.push(piece));
  assert.ok(parser.atBoundary, 'nothing left half-read');
  return events;
}

test("the reference writer's bytes split in two at every byte boundary read back as the same three events", () => {
  const bytes = pythonStyle();
  for (let cut = 0; cut <= bytes.byteLength; cut++) {
    assert.deepEqual(parseAll([bytes.subarray(0, cut), bytes.subarray(cut)]), EXPECTED, `cut at byte ${cut}`);
  }
});

test('one byte at a time, and all at once', () => {
  const bytes = pythonStyle();
  assert.deepEqual(parseAll([...bytes].map((byte) => Buffer.from([byte]))), EXPECTED);
  assert.deepEqual(parseAll([bytes]), EXPECTED);
});

test("the data section is merged over the header's data (its keys win), and the payload follows it", () => {
  const extra = Buffer.from('{"b": 3, "c": {"d": 4}}');
  const bytes = Buffer.concat([
    Buffer.from(`{"type": "x", "data": {"a": 1, "b": 2}, "data_length": ${extra.byteLength}, "payload_length": 3}\n`),
    extra,
    Buffer.from('xyz'),
  ]);
  for (let cut = 0; cut <= bytes.byteLength; cut++) {
    const [event] = parseAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
    assert.deepEqual(event.data, { a: 1, b: 3, c: { d: 4 } });
    assert.equal(event.payload?.toString(), 'xyz');
  }
});

test('data in the header line alone is read too; zero and null lengths mean no section', () => {
  const bytes = Buffer.from('{"type": "transcript", "data": {"text": "hi"}, "data_length": 0, "payload_length": null}\n{"type": "audio-stop"}\n');
  assert.deepEqual(parseAll([bytes]), [
    { type: 'transcript', data: { text: 'hi' } },
    { type: 'audio-stop', data: {} },
  ]);
});

test('encodeEvent writes what the reference reader expects: type, version and lengths in the header, data in the data section', () => {
  const payload = new Uint8Array([9, 8, 7, 6]);
  const bytes = encodeEvent({ type: 'audio-chunk', data: { rate: 22050, width: 2, channels: 1 }, payload });
  const newline = bytes.indexOf(0x0a);
  const header = JSON.parse(bytes.subarray(0, newline).toString()) as Record<string, unknown>;
  const dataLength = header.data_length as number;
  assert.deepEqual(header, { type: 'audio-chunk', version: WYOMING_PROTOCOL_VERSION, data_length: dataLength, payload_length: 4 });
  assert.deepEqual(JSON.parse(bytes.subarray(newline + 1, newline + 1 + dataLength).toString()), { rate: 22050, width: 2, channels: 1 });
  assert.deepEqual([...bytes.subarray(newline + 1 + dataLength)], [9, 8, 7, 6]);
  assert.equal(bytes.byteLength, newline + 1 + dataLength + 4);
  // An event without data or payload is one line with neither length.
  assert.equal(encodeEvent({ type: 'describe' }).toString(), `{"type":"describe","version":"${WYOMING_PROTOCOL_VERSION}"}\n`);
  // And the parser reads what the encoder writes, UTF-8 included.
  const round = encodeEvent({ type: 'synthesize', data: { text: 'Grüße, 世界', voice: { name: 'de_DE-thorsten-medium' } } });
  assert.deepEqual(parseAll([round]), [{ type: 'synthesize', data: { text: 'Grüße, 世界', voice: { name: 'de_DE-thorsten-medium' } } }]);
});

function refusal(bytes: Buffer | Buffer[], pattern: RegExp, limits = {}): void {
  const parser = new WyomingEventParser(limits);
  let thrown: unknown;
  try {
    for (const piece of Array.isArray(bytes) ? bytes : [bytes]) parser.push(piece);
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof WyomingFramingError, `expected a framing error, got ${String(thrown)}`);
  assert.match(thrown.message, pattern);
  // Once broken, the stream has no trustworthy boundary: every later push fails the same way.
  assert.throws(
    () => parser.push(Buffer.from('{"type":"describe"}\n')),
    (error: unknown) => error === thrown,
  );
}

test('garbage is refused with what arrived: not JSON, not UTF-8, no type, a negative length, data that is not an object', () => {
  refusal(Buffer.from('HTTP/1.1 400 Bad Request\r\n'), /a header line that is not JSON: "HTTP\/1\.1 400 Bad Request\.?"/);
  refusal(Buffer.from([0xff, 0xfe, 0x7b, 0x0a]), /a header line that is not UTF-8 text: "\.\.\{"/);
  refusal(Buffer.from('{"data": {}}\n'), /"type" is not valid/);
  refusal(Buffer.from('{"type": ""}\n'), /"type" is not valid/);
  refusal(Buffer.from('["type", "describe"]\n'), /the header is not valid/);
  refusal(Buffer.from('{"type": "x", "data_length": -4}\n'), /"data_length" is not valid/);
  refusal(Buffer.from('{"type": "x", "payload_length": 1.5}\n'), /"payload_length" is not valid/);
  refusal(Buffer.from('{"type": "x", "data_length": 2}\n[]'), /the data section of "x" is an array, not a JSON object/);
  refusal(Buffer.from('{"type": "x", "data_length": 3}\n{{{'), /the data section of "x" that is not JSON/);
  refusal(Buffer.from('\n'), /a header line that is not JSON/);
});

test('a header line that never ends is refused once it passes the limit, holding no more than the limit and one chunk', () => {
  const limit = 4096;
  const chunk = Buffer.alloc(1000, 'a'.charCodeAt(0));
  const parser = new WyomingEventParser({ maxHeaderBytes: limit });
  let pushed = 0;
  let thrown: unknown;
  try {
    for (let i = 0; i < 1000; i++) {
      parser.push(chunk);
      pushed += chunk.byteLength;
    }
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof WyomingFramingError);
  assert.match(thrown.message, /^a header line longer than 4096 bytes \(no newline yet\), starting "aaaa/);
  assert.ok(pushed <= limit, `refused after ${pushed + chunk.byteLength} bytes, limit ${limit}`);
  // A complete line over the limit is refused as well.
  refusal(Buffer.from(`{"type": "x", "data": {"pad": "${'p'.repeat(200)}"}}\n`), /a header line of \d+ bytes, longer than the 100-byte limit/, {
    maxHeaderBytes: 100,
  });
});

test('data and payload announced over their limits are refused at the header, before any of them is read', () => {
  refusal(Buffer.from('{"type": "info", "data_length": 4194305}\n'), /a "info" event announcing 4194305 bytes of data, more than the 4194304-byte limit/);
  refusal(Buffer.from('{"type": "audio-chunk", "payload_length": 9000000000}\n'), /announcing a 9000000000-byte payload, more than the 8388608-byte limit/);
  refusal(Buffer.from('{"type": "audio-chunk", "payload_length": 11}\n'), /more than the 10-byte limit/, { maxPayloadBytes: 10 });
});

test('a payload arriving in pieces is assembled into its own buffer, later events unaffected', () => {
  const payload = Buffer.alloc(100_000);
  for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
  const bytes = Buffer.concat([
    encodeEvent({ type: 'audio-chunk', data: { rate: 16000, width: 2, channels: 1 }, payload }),
    encodeEvent({ type: 'audio-stop' }),
  ]);
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += 1337) pieces.push(bytes.subarray(offset, offset + 1337));
  const events = parseAll(pieces);
  assert.equal(events.length, 2);
  assert.ok(events[0].payload?.equals(payload));
  assert.deepEqual(events[1], { type: 'audio-stop', data: {} });
});
