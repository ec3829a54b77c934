/**
 * The gateway codec on its own: format names, message parsing, and the session a `start`
 * asks for. The wire behaviour is covered over real sockets in the other gateway tests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aLawEncode, muLawEncode } from '../../../src/audio/g711.ts';
import { SpeechbridgeError } from '../../../src/errors/registry.ts';
import { parseClientMessage, sessionOf } from '../../../src/protocols/gateway/codec.ts';
import { decodeAudioBytes, encodeAudioBytes, parseAudioFormat } from '../../../src/protocols/gateway/formats.ts';

test('format names: pcm with an optional rate suffix, μ-law and A-law under their common names', () => {
  const cases: Array<[string, string, number]> = [
    ['pcm', 'pcm_24000', 24000],
    ['PCM16', 'pcm_24000', 24000],
    ['pcm_16000', 'pcm_16000', 16000],
    ['pcm_8000', 'pcm_8000', 8000],
    ['pcm_44100', 'pcm_44100', 44100],
    ['ulaw', 'ulaw_8000', 8000],
    ['mulaw', 'ulaw_8000', 8000],
    ['pcmu', 'ulaw_8000', 8000],
    ['ulaw_8000', 'ulaw_8000', 8000],
    ['alaw', 'alaw_8000', 8000],
    ['pcma', 'alaw_8000', 8000],
  ];
  for (const [name, canonical, sampleRate] of cases) {
    const format = parseAudioFormat(name, 'input_format');
    assert.deepEqual([format.name, format.sampleRate], [canonical, sampleRate], name);
  }
  for (const [name, pattern] of [
    ['opus', /input_format "opus" is not a supported audio format/],
    ['pcm_12345', /pcm rate 12345 is not offered/],
    ['ulaw_16000', /8000 Hz only/],
    ['', /not a supported audio format/],
  ] as const) {
    assert.throws(
      () => parseAudioFormat(name, 'input_format'),
      (error: unknown) =>
        error instanceof SpeechbridgeError && error.code === 'unsupported_format' && error.param === 'input_format' && pattern.test(error.message),
    );
  }
});

test('audio bytes round-trip through each encoding; odd PCM16 bytes are refused', () => {
  const samples = Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin(i / 5)));
  const pcm = parseAudioFormat('pcm', 'output_format');
  assert.deepEqual(decodeAudioBytes(encodeAudioBytes(samples, pcm), pcm, 'frame'), samples);
  const ulaw = parseAudioFormat('ulaw', 'output_format');
  assert.deepEqual(encodeAudioBytes(samples, ulaw), Buffer.from(muLawEncode(samples)));
  const alaw = parseAudioFormat('alaw', 'output_format');
  assert.deepEqual(encodeAudioBytes(samples, alaw), Buffer.from(aLawEncode(samples)));
  assert.equal(decodeAudioBytes(encodeAudioBytes(samples, alaw), alaw, 'frame').length, 160);
  assert.throws(() => decodeAudioBytes(Buffer.alloc(3), pcm, 'binary frame'), /binary frame holds 3 bytes/);
  // A view at an odd offset (as a ws frame may be) decodes the same as an aligned copy.
  const bytes = Buffer.concat([Buffer.alloc(1), encodeAudioBytes(samples, pcm)]).subarray(1);
  assert.deepEqual(decodeAudioBytes(bytes, pcm, 'frame'), samples);
});

test('parseClientMessage: the three types, and errors that name the problem', () => {
  assert.deepEqual(parseClientMessage('{"type":"end"}'), { message: { type: 'end' } });
  const start = parseClientMessage('{"type":"start","voice_id":null,"future_field":1}');
  assert.ok('message' in start && start.message.type === 'start', 'null options and unknown fields are accepted');
  const codeOf = (text: string) => {
    const parsed = parseClientMessage(text);
    return 'error' in parsed ? [parsed.error.code, parsed.error.param] : ['parsed', null];
  };
  assert.deepEqual(codeOf('nope'), ['invalid_json', null]);
  assert.deepEqual(codeOf('"start"'), ['invalid_value', 'type']);
  assert.deepEqual(codeOf('{"audio":"AAAA"}'), ['unknown_event', 'type']);
  assert.deepEqual(codeOf('{"type":"stop"}'), ['unknown_event', 'type']);
  assert.deepEqual(codeOf('{"type":"audio","audio":5}'), ['invalid_value', 'audio']);
  assert.deepEqual(codeOf('{"type":"start","prompt":7}'), ['invalid_value', 'prompt']);
});

test("sessionOf: mode rewrite with the default prompt or the client's, formats as rates, names mapped", () => {
  const plain = sessionOf({ type: 'start' });
  assert.equal(plain.session.mode, 'rewrite');
  // No prompt: the responder's rewrite prompt (the session sets none, so no server-wide prompt replaces it).
  assert.equal(plain.session.instructions, undefined);
  assert.deepEqual([plain.session.inputSampleRate, plain.session.outputSampleRate], [24000, 24000]);
  assert.equal(plain.session.interimTranscripts, true);
  assert.deepEqual(plain.session.turnDetection, { type: 'server_vad', createResponse: true, interruptResponse: false });
  assert.equal(plain.model, undefined);
  assert.equal(plain.session.ttsModel, undefined);

  const full = sessionOf({
    type: 'start',
    input_format: 'ulaw',
    output_format: 'pcm_16000',
    voice_id: 'nova',
    stt_model: 'whisper-1',
    tts_model: 'tts-1',
    openai_model: 'gpt-x',
    prompt: 'Summarize.',
  });
  assert.equal(full.session.instructions, 'Summarize.');
  assert.deepEqual([full.session.inputSampleRate, full.session.outputSampleRate], [8000, 16000]);
  assert.equal(full.session.voice, 'nova');
  assert.deepEqual(full.session.transcription, { model: 'whisper-1' });
  assert.equal(full.model, 'gpt-x');
  assert.equal(full.session.ttsModel, 'tts-1');
});

test("sessionOf: the server's rewrite prompt (OPENAI_PROMPT) replaces the default; a start prompt replaces both", () => {
  assert.equal(sessionOf({ type: 'start' }, { rewritePrompt: 'Fix the grammar.' }).session.instructions, 'Fix the grammar.');
  assert.equal(sessionOf({ type: 'start', prompt: 'Summarize.' }, { rewritePrompt: 'Fix the grammar.' }).session.instructions, 'Summarize.');
  assert.equal(sessionOf({ type: 'start', prompt: '  ' }, { rewritePrompt: '' }).session.instructions, undefined);
});

test('model names "default" (what Gradium gateway clients send) mean the server\'s own models', () => {
  const parsed = parseClientMessage(JSON.stringify({ type: 'start', stt_model: 'default', tts_model: 'Default', openai_model: 'default' }));
  assert.ok('message' in parsed);
  const plan = sessionOf(parsed.message as Parameters<typeof sessionOf>[0]);
  assert.equal(plan.model, undefined);
  assert.equal(plan.session.transcription, undefined);
  assert.equal(plan.session.ttsModel, undefined);
  const named = parseClientMessage(JSON.stringify({ type: 'start', openai_model: 'gpt-x' }));
  assert.equal(sessionOf((named as { message: Parameters<typeof sessionOf>[0] }).message).model, 'gpt-x');
});
