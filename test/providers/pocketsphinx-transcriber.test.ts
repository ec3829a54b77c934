import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { durationMs, type PcmAudio } from '../../src/audio/pcm.ts';
import { readWav } from '../../src/audio/wav.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import {
  checkPocketsphinx,
  createPocketsphinxTranscriber,
  parsePocketsphinxOutput,
  type PocketsphinxTranscriber,
} from '../../src/providers/local/pocketsphinx-transcriber.ts';
import { PocketsphinxLiveText, toTranscription, type PocketsphinxTextSource } from '../../src/providers/local/pocketsphinx-output.ts';
import { sharedAudioPath } from '../helpers/shared.ts';

const run = promisify(execFile);

const GRAMMAR = 'public <cmd> = (turn on | turn off) the (light | radio | heater);';
const PHRASES = ['turn on the light', 'turn off the radio', 'turn on the heater'];

let workDir: string;
let previousTmpdir: string | undefined;
let grammarTranscriber: PocketsphinxTranscriber;
const opened: PocketsphinxTranscriber[] = [];

/** Every transcriber made here, so the last test can close them all and see no file left. */
async function create(options: Parameters<typeof createPocketsphinxTranscriber>[0]): Promise<PocketsphinxTranscriber> {
  const transcriber = await createPocketsphinxTranscriber(options);
  opened.push(transcriber);
  return transcriber;
}
/** espeak-ng output at its own rate (22050 Hz) and resampled by sox to 16 kHz, per phrase. */
const spoken = new Map<string, { native: PcmAudio; resampled: PcmAudio }>();

async function requireTool(name: string, install: string): Promise<void> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const found = await access(path.join(dir, name), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return;
  }
  throw new Error(`${name} is not installed; this test needs it: ${install}`);
}

async function readWavFile(file: string): Promise<PcmAudio> {
  return readWav(await readFile(file));
}

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  await requireTool('espeak-ng', 'apt-get install espeak-ng');
  await requireTool('sox', 'apt-get install sox');
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-pocketsphinx-test-'));
  // The transcriber's temporary files go here, so the test can see that none are left.
  previousTmpdir = process.env.TMPDIR;
  process.env.TMPDIR = path.join(workDir, 'tmp');
  await mkdir(process.env.TMPDIR);
  for (const phrase of PHRASES) {
    const base = path.join(workDir, phrase.replaceAll(' ', '_'));
    await run('espeak-ng', ['-w', `${base}.native.wav`, phrase]);
    await run('sox', [`${base}.native.wav`, '-r', '16000', '-c', '1', '-b', '16', `${base}.wav`]);
    spoken.set(phrase, { native: await readWavFile(`${base}.native.wav`), resampled: await readWavFile(`${base}.wav`) });
  }
  grammarTranscriber = await create({ grammar: GRAMMAR, timeoutMs: 30_000 });
});

after(async () => {
  if (previousTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previousTmpdir;
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test('checkPocketsphinx finds the binary and the en-us model; a missing binary says what to install', async () => {
  const installation = await checkPocketsphinx();
  assert.match(installation.binary, /pocketsphinx_continuous$/);
  const error = await checkPocketsphinx({ binary: 'pocketsphinx_missing_binary' }).then(
    () => assert.fail('a missing binary was accepted'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof SpeechbridgeError);
  assert.equal(error.code, 'engine_unavailable');
  assert.match(error.message, /apt-get install pocketsphinx pocketsphinx-en-us/);
});

test('with a JSGF grammar, synthesized command phrases come back exactly', async () => {
  assert.deepEqual(grammarTranscriber.capabilities, { streaming: true, languageDetection: false, segments: true, sampleRate: 16000, languages: ['en'] });
  for (const phrase of PHRASES) {
    const audio = spoken.get(phrase)!.resampled;
    const result = await grammarTranscriber.transcribe(audio);
    assert.equal(result.text, phrase);
    assert.equal(result.language, 'en');
    assert.equal(result.durationMs, durationMs(audio));
    assert.equal(result.segments.length, 1);
    const [segment] = result.segments;
    assert.equal(segment.text, phrase);
    assert.ok(segment.startMs >= 0 && segment.startMs < segment.endMs && segment.endMs <= result.durationMs, JSON.stringify(segment));
  }
});

test('audio at another rate is resampled to 16 kHz by the transcriber', async () => {
  const { native } = spoken.get('turn off the radio')!;
  assert.notEqual(native.sampleRate, 16000);
  const result = await grammarTranscriber.transcribe(native);
  assert.equal(result.text, 'turn off the radio');
  assert.equal(result.durationMs, durationMs(native));
});

test('free dictation returns some text for a real recording', async () => {
  const transcriber = await create({ timeoutMs: 30_000 });
  assert.equal(transcriber.mode.type, 'dictation');
  const audio = await readWavFile(sharedAudioPath('en_one_two_three.wav'));
  const result = await transcriber.transcribe(audio);
  assert.ok(result.text.trim().length > 0, 'dictation returned no text');
  assert.ok(result.segments.length > 0);
  assert.equal(result.segments.map((segment) => segment.text).join(' '), result.text);
});

test('keyword mode reports the spoken keyphrase with its time, and nothing where it is not said', async () => {
  const transcriber = await create({ keywords: ['birch canoe', 'your country'], timeoutMs: 30_000 });
  const birch = await readWavFile(sharedAudioPath('en_harvard_birch_canoe.wav'));
  const found = await transcriber.transcribe(birch);
  assert.equal(found.text, 'birch canoe');
  assert.equal(found.segments.length, 1);
  assert.ok(found.segments[0].endMs > found.segments[0].startMs && found.segments[0].endMs <= found.durationMs);

  const counting = await readWavFile(sharedAudioPath('en_one_two_three.wav'));
  const none = await transcriber.transcribe(counting);
  assert.equal(none.text, '');
  assert.deepEqual(none.segments, []);
});

test('transcribeWith overrides the mode for one call', async () => {
  const audio = spoken.get('turn on the heater')!.resampled;
  const result = await grammarTranscriber.transcribeWith(audio, { type: 'grammar', jsgf: 'public <cmd> = turn on the (heater | fan);' });
  assert.equal(result.text, 'turn on the heater');
});

test('a grammar that does not parse, or uses unknown words, fails at creation with the reason', async () => {
  const broken = await createPocketsphinxTranscriber({ grammar: 'public <cmd> = turn on the (light | ;', timeoutMs: 30_000 }).then(
    () => assert.fail('a broken grammar was accepted'),
    (caught: unknown) => caught,
  );
  assert.ok(broken instanceof SpeechbridgeError);
  assert.equal(broken.code, 'engine_failed');
  assert.match(broken.message, /JSGF|syntax/i);

  const unknownWord = await createPocketsphinxTranscriber({ grammar: 'public <cmd> = turn on the zorblaxian;', timeoutMs: 30_000 }).then(
    () => assert.fail('an unknown word was accepted'),
    (caught: unknown) => caught,
  );
  assert.ok(unknownWord instanceof SpeechbridgeError);
  assert.match(unknownWord.message, /zorblaxian/);
});

test('grammar and keywords together, or a language other than English, are refused', async () => {
  const both = await createPocketsphinxTranscriber({ grammar: GRAMMAR, keywords: ['radio'], timeoutMs: 30_000 }).then(
    () => assert.fail('grammar and keywords were both accepted'),
    (caught: unknown) => caught,
  );
  assert.ok(both instanceof SpeechbridgeError);
  assert.equal(both.code, 'invalid_config');

  const french = await grammarTranscriber.transcribe(spoken.get('turn on the light')!.resampled, { language: 'fr' }).then(
    () => assert.fail('French was accepted'),
    (caught: unknown) => caught,
  );
  assert.ok(french instanceof SpeechbridgeError);
  assert.equal(french.code, 'invalid_value');
});

test('an abort rejects with AbortError; a timeout gives upstream_timeout', async () => {
  const audio = await readWavFile(sharedAudioPath('en_jfk_inaugural.wav'));
  const dictation = await create({ timeoutMs: 30_000 });
  const controller = new AbortController();
  const pending = dictation.transcribe(audio, { signal: controller.signal });
  setImmediate(() => controller.abort());
  const aborted = await pending.then(
    () => assert.fail('the aborted call resolved'),
    (caught: unknown) => caught,
  );
  assert.equal((aborted as Error).name, 'AbortError');

  const hurried = await create({ timeoutMs: 50 });
  const late = await hurried.transcribe(audio).then(
    () => assert.fail('an 11 s decode finished within 50 ms'),
    (caught: unknown) => caught,
  );
  assert.ok(late instanceof SpeechbridgeError);
  assert.equal(late.code, 'upstream_timeout');
});

test('decodes beyond maxConcurrent wait, and a call beyond maxQueue fails with engine_busy', async () => {
  const single = await create({ grammar: GRAMMAR, timeoutMs: 30_000, maxConcurrent: 1, maxQueue: 1 });
  const light = spoken.get('turn on the light')!.resampled;
  const radio = spoken.get('turn off the radio')!.resampled;
  const first = single.transcribe(light);
  const second = single.transcribe(radio);
  const refused = await single.transcribe(light).then(
    () => assert.fail('a third call was accepted with maxConcurrent 1 and maxQueue 1'),
    (caught: unknown) => caught,
  );
  assert.ok(refused instanceof SpeechbridgeError);
  assert.equal(refused.code, 'engine_busy');
  assert.match(refused.message, /pocketsphinx has 1 jobs waiting \(limit 1\)/, 'the job slots every local engine queues on');
  assert.equal((await first).text, 'turn on the light');
  assert.equal((await second).text, 'turn off the radio');
});

test('a best-effort call does not wait for a slot: engine_busy at once when all are taken', async () => {
  const single = await create({ grammar: GRAMMAR, timeoutMs: 30_000, maxConcurrent: 1 });
  const light = spoken.get('turn on the light')!.resampled;
  const first = single.transcribe(light);
  const refused = await single.transcribe(light, { bestEffort: true }).then(
    () => assert.fail('a best-effort call waited for the busy slot'),
    (caught: unknown) => caught,
  );
  assert.ok(refused instanceof SpeechbridgeError);
  assert.equal(refused.code, 'engine_busy');
  assert.equal((await first).text, 'turn on the light');
  assert.equal((await single.transcribe(light, { bestEffort: true })).text, 'turn on the light', 'accepted once the slot is free');
});

test('a grammar or keyword file lives as long as its transcriber: none is left after close()', async () => {
  assert.ok((await readdir(process.env.TMPDIR!)).length > 0, 'the open grammar and keyword transcribers hold their files');
  await Promise.all(opened.map((transcriber) => transcriber.close()));
  assert.deepEqual(await readdir(process.env.TMPDIR!), []);
  for (const transcriber of opened) assert.deepEqual(transcriber.processIds, []);
});

test('parsePocketsphinxOutput reads hypotheses and their word times', () => {
  const utterances = parsePocketsphinxOutput(
    'and not\n<s> 3.170 3.280 0.999700\nand(2) 3.290 3.820 0.980589\nnot 3.990 4.300 0.732394\n</s> 4.310 4.760 1.000000\n',
  );
  assert.deepEqual(utterances, [
    {
      hypothesis: 'and not',
      words: [
        { word: '<s>', startMs: 3170, endMs: 3280 },
        { word: 'and(2)', startMs: 3290, endMs: 3820 },
        { word: 'not', startMs: 3990, endMs: 4300 },
        { word: '</s>', startMs: 4310, endMs: 4760 },
      ],
    },
  ]);
});

test('the live pieces of text add up to the final text, in dictation and in keyword spotting', () => {
  const cases: Array<[PocketsphinxTextSource, string, string[]]> = [
    [
      'hypotheses',
      'and then our\n<s> 0.000 0.040 0.998601\nand 0.050 0.160 0.016792\n</s> 2.420 2.440 1.000000\n\nand not\n<s> 3.170 3.280 0.999700\n',
      ['and then our', ' and not'],
    ],
    ['keywords', 'your country \nyour country  5.570 6.430 0.853749\nyour country \nyour country  9.790 10.470 0.825041\n', ['your country', ' your country']],
  ];
  for (const [source, stdout, expected] of cases) {
    const live = new PocketsphinxLiveText(source);
    const pieces = stdout.split('\n').flatMap((line) => live.push(line) ?? []);
    assert.deepEqual(pieces, expected);
    assert.equal(pieces.join(''), toTranscription(parsePocketsphinxOutput(stdout), source, 11_000).text);
  }
});
