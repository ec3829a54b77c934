import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { concatPcm } from '../../src/audio/pcm.ts';
import { TurnDetector, type TurnEvent } from '../../src/vad/turn-detector.ts';
import type { TurnOptions } from '../../src/vad/turn-options.ts';
import { createVoiceDetector } from '../../src/vad/voice-detector-factory.ts';
import type { VoiceDetector } from '../../src/vad/voice-detector.ts';
import { energyBounds, loadClip, msToSamples, noise, pad } from './speech-audio.ts';

const PAD_BEFORE_MS = 1000;
const PAD_AFTER_MS = 1500;
/** Detected boundaries must lie within ±60 ms of the energy-measured ones (3 frames of 20 ms). */
const TOLERANCE_MS = 60;
/** Long enough that no clip here is force-cut unless a test asks for it. */
const NO_MAX_MS = 600_000;

interface Turn {
  startMs: number;
  endMs: number;
  reason: string;
}

function runAll(turns: TurnDetector, samples: Int16Array, chunkSamples = samples.length): TurnEvent[] {
  const events: TurnEvent[] = [];
  for (let offset = 0; offset < samples.length; offset += chunkSamples) events.push(...turns.push(samples.subarray(offset, offset + chunkSamples)));
  events.push(...turns.flush());
  return events;
}

function toTurns(events: readonly TurnEvent[]): Turn[] {
  const turns: Turn[] = [];
  let startMs: number | null = null;
  for (const event of events) {
    if (event.type === 'speech.started') {
      assert.equal(startMs, null, 'speech.started while a turn is open');
      startMs = event.audioStartMs;
    } else {
      assert.notEqual(startMs, null, 'speech.stopped without a turn');
      turns.push({ startMs: startMs!, endMs: event.audioEndMs, reason: event.reason });
      startMs = null;
    }
  }
  return turns;
}

/** A detector that answers from a script, one probability per frame, for exact state-machine checks. */
function scriptedDetector(script: readonly number[]): VoiceDetector & { frames: number } {
  return {
    name: 'scripted',
    sampleRate: 16000,
    frameSamples: 320,
    frames: 0,
    probability(frame: Int16Array) {
      assert.equal(frame.length, 320);
      return script[this.frames++] ?? 0;
    },
    reset() {
      this.frames = 0;
    },
  };
}

/** Frames of the script: `ms` of one probability (20 ms per frame). */
function frames(ms: number, probability: number): number[] {
  return new Array<number>(ms / 20).fill(probability);
}

function runScript(script: number[], options: Partial<TurnOptions>): Turn[] {
  // minSnrDb 0: the scripted audio is digital silence, so the background check is off here.
  const turns = new TurnDetector(scriptedDetector(script), { minSnrDb: 0, ...options });
  return toTurns(runAll(turns, new Int16Array(script.length * 320)));
}

describe('TurnDetector state machine (scripted detector)', () => {
  test('a voiced run shorter than startMs starts no turn; one as long as startMs does, dated at its first frame', () => {
    assert.deepEqual(runScript([...frames(200, 0), ...frames(100, 1), ...frames(1000, 0)], { startMs: 120 }), []);
    const turns = runScript([...frames(200, 0), ...frames(120, 1), ...frames(1000, 0)], { startMs: 120 });
    assert.deepEqual(turns, [{ startMs: 200, endMs: 320, reason: 'silence' }]);
  });

  test('a pause shorter than endMs keeps one turn; one of endMs ends it at the last voiced frame', () => {
    const bridged = runScript([...frames(500, 1), ...frames(440, 0), ...frames(500, 1), ...frames(1000, 0)], { endMs: 450 });
    assert.deepEqual(bridged, [{ startMs: 0, endMs: 1440, reason: 'silence' }]);
    const split = runScript([...frames(500, 1), ...frames(460, 0), ...frames(500, 1), ...frames(1000, 0)], { endMs: 450 });
    assert.deepEqual(split, [
      { startMs: 0, endMs: 500, reason: 'silence' },
      { startMs: 960, endMs: 1460, reason: 'silence' },
    ]);
  });

  test('speech.stopped comes endMs after the last voiced frame, not before', () => {
    const turns = new TurnDetector(scriptedDetector([...frames(300, 1), ...frames(1000, 0)]), { minSnrDb: 0, endMs: 400 });
    assert.deepEqual(turns.push(new Int16Array(msToSamples(300 + 380))), [{ type: 'speech.started', audioStartMs: 0 }]);
    assert.equal(turns.state, 'speech');
    assert.deepEqual(turns.push(new Int16Array(msToSamples(20))), [{ type: 'speech.stopped', audioEndMs: 300, reason: 'silence' }]);
    assert.equal(turns.state, 'silence');
  });

  test('inside a turn a probability down to threshold − 0.15 stays voiced; NaN counts as unvoiced', () => {
    const kept = runScript([...frames(300, 0.9), ...frames(600, 0.4), ...frames(1000, 0)], { threshold: 0.5, endMs: 450 });
    assert.deepEqual(kept, [{ startMs: 0, endMs: 900, reason: 'silence' }]);
    const notStarted = runScript([...frames(300, 0.4), ...frames(1000, 0)], { threshold: 0.5 });
    assert.deepEqual(notStarted, []);
    const nan = runScript([...frames(300, 0.9), ...frames(600, Number.NaN), ...frames(200, 0)], { endMs: 450 });
    assert.deepEqual(nan, [{ startMs: 0, endMs: 300, reason: 'silence' }]);
  });

  test('maxMs cuts a turn and, while voice goes on, the next turn starts at the cut', () => {
    const turns = runScript([...frames(2500, 1), ...frames(1000, 0)], { maxMs: 1000 });
    assert.deepEqual(turns, [
      { startMs: 0, endMs: 1000, reason: 'max_duration' },
      { startMs: 1000, endMs: 2000, reason: 'max_duration' },
      { startMs: 2000, endMs: 2500, reason: 'silence' },
    ]);
  });

  test('flush stops an open turn with end_of_stream and rewinds the stream', () => {
    const detector = scriptedDetector(frames(600, 1));
    const turns = new TurnDetector(detector, { minSnrDb: 0 });
    assert.deepEqual(turns.push(new Int16Array(msToSamples(600) + 100)), [{ type: 'speech.started', audioStartMs: 0 }]);
    assert.equal(turns.streamMs, 600 + 100 / 16);
    assert.deepEqual(turns.flush(), [{ type: 'speech.stopped', audioEndMs: 600, reason: 'end_of_stream' }]);
    assert.equal(turns.state, 'silence');
    assert.equal(turns.streamMs, 0);
    assert.equal(detector.frames, 0, 'flush resets the voice detector too');
    assert.deepEqual(turns.flush(), [], 'a second flush has nothing to stop');
  });

  test('a steady sound the engine calls speech opens no turn until something rises above it', () => {
    // An engine that calls every frame speech leaves only the background check to decide.
    const clip = loadClip('en_ls_1272-128104-0000.wav');
    const truth = energyBounds(clip.samples);
    const speech = pad(clip.samples, 3000, 3000);
    const background = noise((speech.length * 1000) / 16000, -50, 3);
    const mixed = new Int16Array(speech.length);
    for (let i = 0; i < mixed.length; i++) mixed[i] = Math.max(-32768, Math.min(32767, speech[i] + background[i]));
    const everythingIsSpeech: VoiceDetector = { name: 'always', sampleRate: 16000, frameSamples: 320, probability: () => 1, reset() {} };
    const turns = new TurnDetector(everythingIsSpeech, { maxMs: NO_MAX_MS });
    const found = toTurns(runAll(turns, mixed));
    assert.equal(found.length, 1, `one turn expected, got ${JSON.stringify(found)}`);
    const startErrorMs = found[0].startMs - (3000 + truth.startMs);
    // Noise the engine called speech can date the start back by at most startMs.
    assert.ok(startErrorMs >= -turns.options.startMs && startErrorMs <= TOLERANCE_MS, `start off by ${startErrorMs} ms`);
    const endErrorMs = found[0].endMs - (3000 + truth.endMs);
    assert.ok(Math.abs(endErrorMs) <= TOLERANCE_MS, `end off by ${endErrorMs} ms`);
  });

  test('rejects a detector at another sample rate and invalid knobs', () => {
    const wrongRate = { ...scriptedDetector([]), sampleRate: 8000 } as unknown as VoiceDetector;
    assert.throws(() => new TurnDetector(wrongRate), { code: 'invalid_value' });
    assert.throws(() => new TurnDetector(scriptedDetector([]), { endMs: 50 }), { code: 'invalid_value', param: 'endMs' });
  });
});

describe('TurnDetector on real speech (WebRTC VAD, aggressiveness 2)', () => {
  let detector: VoiceDetector;
  before(async () => {
    detector = await createVoiceDetector({ engine: 'webrtc', aggressiveness: 2 });
  });
  after(() => detector.close?.());

  // Clips whose speech fills the recording, so the padding is the only silence around it.
  for (const name of ['en_harvard_birch_canoe.wav', 'en_lj_LJ001-0004.wav', 'en_one_two_three.wav']) {
    for (const padLevelDbfs of name === 'en_one_two_three.wav' ? [-Infinity] : [-Infinity, -70]) {
      const padName = padLevelDbfs === -Infinity ? 'digital silence' : `${padLevelDbfs} dBFS noise`;
      test(`${name} padded with ${padName}: start and stop within ±${TOLERANCE_MS} ms`, () => {
        const clip = loadClip(name);
        const truth = energyBounds(clip.samples);
        const turns = toTurns(runAll(new TurnDetector(detector, { maxMs: NO_MAX_MS }), pad(clip.samples, PAD_BEFORE_MS, PAD_AFTER_MS, padLevelDbfs)));
        assert.equal(turns.length, 1, `one turn expected, got ${JSON.stringify(turns)}`);
        const [turn] = turns;
        assert.equal(turn.reason, 'silence');
        const startErrorMs = turn.startMs - (PAD_BEFORE_MS + truth.startMs);
        const endErrorMs = turn.endMs - (PAD_BEFORE_MS + truth.endMs);
        assert.ok(Math.abs(startErrorMs) <= TOLERANCE_MS, `start ${turn.startMs} ms is ${startErrorMs} ms off ${PAD_BEFORE_MS + truth.startMs}`);
        assert.ok(Math.abs(endErrorMs) <= TOLERANCE_MS, `end ${turn.endMs} ms is ${endErrorMs} ms off ${PAD_BEFORE_MS + truth.endMs}`);
      });
    }
  }

  test('no turn on 5 s of digital silence', () => {
    const turns = new TurnDetector(detector);
    assert.deepEqual(runAll(turns, new Int16Array(msToSamples(5000))), []);
  });

  test('no turn on 5 s of −50 dBFS white noise', () => {
    const turns = new TurnDetector(detector);
    assert.deepEqual(runAll(turns, noise(5000, -50)), []);
  });

  test('no turn on noise_stationary_leopard_empty.wav, at any aggressiveness', async () => {
    const recording = loadClip('noise_stationary_leopard_empty.wav');
    for (const aggressiveness of [0, 1, 2, 3] as const) {
      const engine = await createVoiceDetector({ engine: 'webrtc', aggressiveness });
      try {
        assert.deepEqual(runAll(new TurnDetector(engine), recording.samples), [], `aggressiveness ${aggressiveness}`);
      } finally {
        engine.close?.();
      }
    }
  });

  test('maxMs 1500 on en_jfk_inaugural.wav force-cuts turns, and speech that goes on starts the next turn at the cut', () => {
    const turns = new TurnDetector(detector, { maxMs: 1500 });
    const found = toTurns(runAll(turns, loadClip('en_jfk_inaugural.wav').samples));
    const cut = found.findIndex((turn) => turn.reason === 'max_duration');
    assert.ok(cut >= 0, `no max_duration cut in ${JSON.stringify(found)}`);
    for (const turn of found) assert.ok(turn.endMs - turn.startMs <= 1500 + turns.frameMs, `turn ${JSON.stringify(turn)} is longer than maxMs + one frame`);
    const next = found[cut + 1];
    assert.ok(next !== undefined, 'the speech after the first cut started no turn');
    assert.ok(next.startMs - found[cut].endMs <= turns.frameMs, `next turn starts ${next.startMs - found[cut].endMs} ms after the cut`);
  });

  test('the same events for 7-sample, 320-sample and whole-file pushes', () => {
    const samples = concatPcm([pad(loadClip('en_one_two_three.wav').samples, 500, 700), pad(loadClip('en_harvard_birch_canoe.wav').samples, 0, 1000)]);
    const whole = runAll(new TurnDetector(detector), samples);
    assert.ok(whole.length >= 2, 'the fixture must produce turns to compare');
    assert.deepEqual(runAll(new TurnDetector(detector), samples, 320), whole);
    assert.deepEqual(runAll(new TurnDetector(detector), samples, 7), whole);
  });

  test('state is speech inside a turn, and reset forgets it without events', () => {
    const clip = loadClip('en_lj_LJ001-0004.wav');
    const turns = new TurnDetector(detector);
    const events = turns.push(pad(clip.samples, PAD_BEFORE_MS, 0).subarray(0, msToSamples(PAD_BEFORE_MS + 1000)));
    assert.equal(events[0]?.type, 'speech.started');
    assert.equal(turns.state, 'speech');
    turns.reset();
    assert.equal(turns.state, 'silence');
    assert.equal(turns.streamMs, 0);
    assert.deepEqual(turns.flush(), []);
  });
});
