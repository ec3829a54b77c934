/**
 * pocketsphinx as a live recognizer, on the real Debian engine and the shared recordings: text
 * comes out while the audio is still being fed, the final text follows the end of the audio,
 * turns run on processes started ahead of them, and the bounds hold — slots and queue, a killed
 * process failing only its own turn, close() leaving no process behind. The batch path is also
 * driven through a door (POST /v1/audio/transcriptions on a real server).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type PcmAudio } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import type { TranscriptStreamEvent } from '../../src/providers/contracts.ts';
import { createPocketsphinxTranscriber, type PocketsphinxTranscriber } from '../../src/providers/local/pocketsphinx-transcriber.ts';
import { startTestServer } from '../helpers/server.ts';
import { sharedAudioPath } from '../helpers/shared.ts';
import { COMMAND_GRAMMAR, requireTool, speakPhrase } from '../helpers/spoken.ts';

const FRAME_SAMPLES = 320; // 20 ms at 16 kHz, the engine's hop.

let dictation: PocketsphinxTranscriber;
const opened: PocketsphinxTranscriber[] = [];

async function recording(name: string): Promise<PcmAudio> {
  return readWav(await readFile(sharedAudioPath(name)));
}

async function create(options: Parameters<typeof createPocketsphinxTranscriber>[0]): Promise<PocketsphinxTranscriber> {
  const transcriber = await createPocketsphinxTranscriber(options);
  opened.push(transcriber);
  return transcriber;
}

/** 20 ms frames, each `paceMs` apart (0: as fast as the reader takes them); `onEnd` runs after the last. */
async function* frames(audio: PcmAudio, paceMs = 0, onEnd?: () => void): AsyncIterable<PcmAudio> {
  const size = Math.round((audio.sampleRate * 20) / 1000);
  for (let offset = 0; offset < audio.samples.length; offset += size) {
    yield { samples: audio.samples.slice(offset, offset + size), sampleRate: audio.sampleRate };
    if (paceMs > 0) await sleep(paceMs);
  }
  onEnd?.();
}

/** A turn whose frames the test releases one by one (a speaker who has not finished). */
function heldTurn(audio: PcmAudio): { frames: AsyncIterable<PcmAudio>; release(count: number): void; end(): void } {
  let released = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  return {
    frames: (async function* () {
      let offset = 0;
      for (;;) {
        while (released > 0 && offset < audio.samples.length) {
          released--;
          yield { samples: audio.samples.slice(offset, offset + FRAME_SAMPLES), sampleRate: audio.sampleRate };
          offset += FRAME_SAMPLES;
        }
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    })(),
    release(count) {
      released += count;
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
  };
}

async function collect(stream: AsyncIterable<TranscriptStreamEvent>): Promise<TranscriptStreamEvent[]> {
  const events: TranscriptStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

function finalText(events: TranscriptStreamEvent[]): string {
  const completed = events.filter((event) => event.type === 'completed');
  assert.equal(completed.length, 1, 'exactly one completed event');
  assert.equal(events[events.length - 1].type, 'completed', 'completed comes last');
  return completed[0].type === 'completed' ? completed[0].transcription.text : '';
}

function deltas(events: TranscriptStreamEvent[]): string[] {
  return events.flatMap((event) => (event.type === 'delta' ? [event.text] : []));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of the processes in group `pgid` that are not zombies (from /proc: state is field 3, the group field 5). */
function livingInGroup(pgid: number): number[] {
  const living: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(group) === pgid && state !== 'Z') living.push(Number(entry));
  }
  return living;
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('the call succeeded'),
    (error: unknown) => error,
  );
}

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  await requireTool('bash', 'apt-get install bash');
  dictation = await create({ timeoutMs: 60_000 });
});

after(async () => {
  await Promise.all(opened.map((transcriber) => transcriber.close()));
  for (const transcriber of opened) assert.deepEqual(transcriber.processIds, []);
});

test('declares itself a live recognizer at 16 kHz and starts a process before any turn', async () => {
  assert.deepEqual(dictation.capabilities, { streaming: true, languageDetection: false, segments: true, sampleRate: 16000, languages: ['en'] });
  assert.equal(dictation.idleProcesses, 1);
  const [pid] = dictation.processIds;
  assert.ok(isAlive(pid), 'the warm process runs');
});

test('a recording spoken in real time: each utterance comes out while the audio still flows, the final text right after', async () => {
  const audio = await recording('en_jfk_inaugural.wav');
  let audioEnded = false;
  const events: Array<{ event: TranscriptStreamEvent; duringAudio: boolean }> = [];
  for await (const event of dictation.transcribeStream(frames(audio, 20, () => (audioEnded = true)))) events.push({ event, duringAudio: !audioEnded });
  const all = events.map((entry) => entry.event);
  const text = finalText(all);
  // JFK: "… ask not what your country can do for you …"; pocketsphinx's dictation is weak, the key words come through.
  assert.match(text, /\bcountry\b/, text);
  assert.match(text, /\bnot\b/, text);
  const pieces = deltas(all);
  assert.ok(pieces.length >= 3, `the 11 s clip has pauses: ${JSON.stringify(pieces)}`);
  assert.equal(pieces.join(''), text, 'the deltas add up to the final text');
  assert.ok(
    events.some((entry) => entry.event.type === 'delta' && entry.duringAudio),
    'at least one utterance was decoded before the audio ended',
  );
  const completed = all[all.length - 1];
  assert.ok(completed.type === 'completed' && Math.abs(completed.transcription.durationMs - 11_000) < 50);
  assert.ok(completed.type === 'completed' && completed.transcription.segments.length === pieces.length);
});

test('recordings fed as fast as the decoder takes them: key words right, the decoder pacing the reader', async () => {
  for (const [name, words] of [
    ['en_ls_1272-128104-0000.wav', ['middle', 'classes', 'gospel']],
    ['en_lj_LJ001-0004.wav', ['block', 'books', 'printed']],
    ['en_ls_1089-134691-0000.wav', ['he', 'could', 'wait', 'no', 'longer']],
  ] as const) {
    const text = finalText(await collect(dictation.transcribeStream(frames(await recording(name)))));
    for (const word of words) assert.match(text, new RegExp(`\\b${word}\\b`), `${name}: ${text}`);
  }
});

test('each turn takes a process started before it, and a fresh one is started for the next', async () => {
  const audio = await recording('en_ls_1089-134691-0000.wav');
  await until(() => dictation.idleProcesses === 1, 'a warm process is ready');
  const [warm] = dictation.processIds;
  const turn = heldTurn(audio);
  const stream = collect(dictation.transcribeStream(turn.frames));
  turn.release(10);
  await until(() => dictation.processIds.length === 2, 'a replacement started');
  assert.ok(dictation.processIds.includes(warm), 'the turn runs on the warm process');
  turn.release(Number.MAX_SAFE_INTEGER);
  turn.end();
  assert.equal(finalText(await stream), 'he could wait no longer');
  assert.ok(!isAlive(warm), 'the turn’s process has exited');
  assert.deepEqual(dictation.processIds.length, 1);
  assert.notEqual(dictation.processIds[0], warm);
});

test('keyword spotting and a JSGF grammar stream too; audio at 24 kHz is resampled on the way', async () => {
  const keywords = await create({ keywords: ['birch canoe', 'your country'], timeoutMs: 60_000 });
  const birch = await recording('en_harvard_birch_canoe.wav');
  const spotted = await collect(keywords.transcribeStream(frames(birch)));
  assert.equal(finalText(spotted), 'birch canoe');
  assert.deepEqual(deltas(spotted), ['birch canoe']);

  const grammar = await create({ grammar: COMMAND_GRAMMAR, timeoutMs: 60_000 });
  const pcm = readWav((await speakPhrase('turn off the radio')).bytes);
  const at24k = await resample(pcm, 24000);
  const commanded = await collect(grammar.transcribeStream(frames(at24k)));
  assert.equal(finalText(commanded), 'turn off the radio');
  const completed = commanded[commanded.length - 1];
  assert.ok(completed.type === 'completed' && Math.abs(completed.transcription.durationMs - (pcm.samples.length / pcm.sampleRate) * 1000) < 25);
});

test('a turn with no audio completes with no text; the batch path refuses empty audio', async () => {
  const events = await collect(dictation.transcribeStream(frames({ samples: new Int16Array(0), sampleRate: 16000 })));
  assert.deepEqual(events, [{ type: 'completed', transcription: { text: '', language: 'en', durationMs: 0, segments: [] } }]);
  const empty = await rejection(dictation.transcribe({ samples: new Int16Array(0), sampleRate: 16000 }));
  assert.ok(empty instanceof SpeechbridgeError && empty.code === 'empty_input');
});

test('bounds: maxConcurrent processes decode, maxQueue calls wait, the rest get engine_busy; a waiting turn is served when a slot frees', async () => {
  const single = await create({ timeoutMs: 60_000, maxConcurrent: 1, maxQueue: 1 });
  const audio = await recording('en_ls_1089-134691-0000.wav');
  const first = heldTurn(audio);
  const firstResult = collect(single.transcribeStream(first.frames));
  first.release(5);
  await until(() => single.processIds.length === 2, 'the first turn holds the slot');
  // The second turn waits for the slot, holding its audio meanwhile.
  const second = collect(single.transcribeStream(frames(audio)));
  await until(() => single.queued === 1, 'the second turn waits for the slot');
  assert.deepEqual({ running: single.jobs.running, waiting: single.jobs.waiting, capacity: single.jobs.capacity }, { running: 1, waiting: 1, capacity: 1 });
  const third = await rejection(collect(single.transcribeStream(frames(audio))));
  assert.ok(third instanceof SpeechbridgeError && third.code === 'engine_busy', String(third));
  assert.match((third as Error).message, /pocketsphinx has 1 jobs waiting \(limit 1\)/);
  const bestEffort = await rejection(single.transcribe(audio, { bestEffort: true }));
  assert.ok(bestEffort instanceof SpeechbridgeError && bestEffort.code === 'engine_busy');
  first.release(Number.MAX_SAFE_INTEGER);
  first.end();
  assert.equal(finalText(await firstResult), 'he could wait no longer');
  assert.equal(finalText(await second), 'he could wait no longer');
  assert.ok(single.processIds.length <= 2, `processes: ${single.processIds.length}`);
});

test('a process killed mid-turn fails that turn with engine_failed; the next turn gets a fresh process', async () => {
  const audio = await recording('en_ls_1089-134691-0000.wav');
  await until(() => dictation.idleProcesses === 1, 'a warm process is ready');
  const [victim] = dictation.processIds;
  const turn = heldTurn(audio);
  const failed = rejection(collect(dictation.transcribeStream(turn.frames)));
  turn.release(20);
  await until(() => dictation.processIds.length === 2, 'the turn took the warm process');
  process.kill(victim, 'SIGKILL');
  const error = await failed;
  assert.ok(error instanceof SpeechbridgeError, String(error));
  assert.equal(error.code, 'engine_failed');
  assert.match(error.message, /pocketsphinx was stopped by SIGKILL/);
  turn.end();
  assert.ok(!dictation.processIds.includes(victim));
  assert.equal(finalText(await collect(dictation.transcribeStream(frames(audio)))), 'he could wait no longer');
  assert.equal((await dictation.transcribe(audio)).text, 'he could wait no longer', 'the batch path too');
});

test('an abort or a reader that stops early ends the turn and kills its process', async () => {
  const audio = await recording('en_ls_1089-134691-0000.wav');
  const controller = new AbortController();
  await until(() => dictation.idleProcesses === 1, 'a warm process is ready');
  const [aborted] = dictation.processIds;
  const turn = heldTurn(audio);
  const pending = rejection(collect(dictation.transcribeStream(turn.frames, { signal: controller.signal })));
  turn.release(10);
  await until(() => dictation.processIds.length === 2, 'the turn started');
  controller.abort();
  assert.equal(((await pending) as Error).name, 'AbortError');
  await until(() => !isAlive(aborted), 'the aborted turn’s process is gone', 5000);

  // A reader that takes the first piece of text and leaves (barge-in) ends the turn as well.
  await until(() => dictation.idleProcesses === 1, 'a warm process is ready');
  const [left] = dictation.processIds;
  let framesRead = 0;
  const counted = (async function* () {
    for await (const frame of frames(await recording('en_jfk_inaugural.wav'), 20)) {
      framesRead++;
      yield frame;
    }
  })();
  let firstPiece: string | undefined;
  for await (const event of dictation.transcribeStream(counted)) {
    if (event.type === 'delta') {
      firstPiece = event.text;
      break;
    }
  }
  assert.ok(firstPiece, 'a piece of text came before the reader left');
  await until(() => !isAlive(left), 'the left turn’s process is gone', 5000);
  const readWhenLeft = framesRead;
  await sleep(200);
  assert.ok(framesRead <= readWhenLeft + 1, `the turn stopped reading its audio (${readWhenLeft} → ${framesRead} frames)`);
  assert.ok(readWhenLeft < 550, `it left before the end of the 11 s clip (${readWhenLeft} frames read)`);
});

test('the final text has REQUEST_TIMEOUT after the end of the audio: a decoder that is late gives upstream_timeout', async () => {
  const hurried = await create({ timeoutMs: 50 });
  const audio = await recording('en_jfk_inaugural.wav');
  const late = await rejection(collect(hurried.transcribeStream(frames(audio))));
  assert.ok(late instanceof SpeechbridgeError, String(late));
  assert.equal(late.code, 'upstream_timeout');
  assert.match(late.message, /REQUEST_TIMEOUT/);
  await until(() => hurried.processIds.length <= 1, 'the late turn’s process is gone', 5000);
});

test('close() kills idle and busy processes (and their pipes), ends running turns and refuses new ones', async () => {
  const closing = await createPocketsphinxTranscriber({ timeoutMs: 60_000 });
  const audio = await recording('en_jfk_inaugural.wav');
  const turn = heldTurn(audio);
  const running = rejection(collect(closing.transcribeStream(turn.frames)));
  turn.release(10);
  await until(() => closing.processIds.length === 2, 'one busy and one idle process');
  const pids = closing.processIds;
  await closing.close();
  assert.deepEqual(closing.processIds, []);
  for (const pid of pids) {
    assert.ok(!isAlive(pid), `process ${pid} was killed`);
    // The process group it leads: the `cat` feeding the decoder went with it.
    await until(() => livingInGroup(pid).length === 0, `process group ${pid} is empty`, 5000);
  }
  const error = await running;
  assert.equal((error as Error).name, 'AbortError', 'a turn running at shutdown ends as aborted, not as a failure');
  turn.end();
  const refused = await rejection(closing.transcribe(audio));
  assert.ok(refused instanceof SpeechbridgeError && refused.code === 'engine_unavailable');
});

test('through a door: POST /v1/audio/transcriptions decodes a recording on the warm process', async () => {
  const server = await startTestServer({ transcriber: dictation });
  try {
    await until(() => dictation.idleProcesses === 1, 'a warm process is ready');
    const [warm] = dictation.processIds;
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(await readFile(sharedAudioPath('en_ls_1272-128104-0000.wav')))]), 'speech.wav');
    form.set('model', 'whisper-1');
    const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    assert.equal(response.status, 200, await response.clone().text());
    const { text } = (await response.json()) as { text: string };
    for (const word of ['middle', 'classes', 'gospel']) assert.match(text, new RegExp(`\\b${word}\\b`), text);
    assert.ok(!isAlive(warm), 'the warm process decoded it and exited');
  } finally {
    // The server closes its engines; the transcriber is closed again in after() (close is idempotent).
    await server.close();
  }
});
