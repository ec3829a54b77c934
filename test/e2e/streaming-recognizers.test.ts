/**
 * Streaming recognizers used live: a real speechbridge built from its environment
 * (ASR_ENGINE=gradium, openai-realtime or wyoming, against the local servers of those
 * protocols in test/helpers) and a client of every door — /v1/realtime (ws), Socket.IO
 * /realtime, the gateway on `/` and /v1/transcriptions — streaming a real recording in real
 * time. What each client observes:
 * - partial text while the user is still speaking: it arrives before the client has sent the
 *   recording's last frame (and, on /v1/realtime, before speech_stopped), where the upstream
 *   sends text during the audio (Gradium, a streaming Wyoming server). OpenAI's protocol
 *   sends no text before a commit; there the audio reaches the upstream during the speech and
 *   the deltas come between the commit and the final text.
 * - exactly one final text per turn, after the speech stopped, with no second pass over the
 *   turn (one upstream stream per turn: one Gradium socket, one Wyoming `transcribe`, one
 *   commit on the session's one OpenAI connection).
 * Faults (/v1/realtime): the upstream closes 1011 mid-stream, or never answers the end of the
 * audio (Gradium `flush`, Wyoming `audio-stop`, OpenAI's commit): the turn ends in one
 * transcription.failed whose message names the upstream, within REQUEST_TIMEOUT, and the next
 * turn of the same session is transcribed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { int16ToBytes, type PcmAudio } from '../../src/audio/pcm.ts';
import { encodeBase64Audio } from '../../src/audio/base64.ts';
import type { RunningServer } from '../../src/server/app.ts';
import { startConfiguredServer, type TestServer } from '../helpers/server.ts';
import { GRADIUM_TEST_KEY, startGradiumUpstream, type GradiumUpstream } from '../helpers/gradium-upstream.ts';
import { startRealtimeUpstream, type RealtimeUpstream } from '../helpers/openai-realtime-upstream.ts';
import { startWyomingServer, type WyomingFault, type WyomingServer } from '../helpers/wyoming-server.ts';
import { GatewayClient, gatewayUrl } from '../protocols/gateway/gateway-harness.ts';
import { RealtimeSocket } from '../protocols/socketio/socketio-harness.ts';
import { TranscriptionClient } from '../protocols/transcriptions/transcriptions-harness.ts';
import { RealtimeClient, recording, withSilence } from './realtime-harness.ts';

const CANOE = 'The birch canoe slid on the smooth planks';
const FRAME_MS = 20;
/** Silence after the speech: longer than the VAD's 450 ms end of turn, so the turn ends on its own. */
const TRAILING_SILENCE_MS = 1200;

type Observed = { kind: 'partial' | 'final' | 'failed' | 'stopped'; text: string };

/** What one client saw, with the number of frames it had sent when each message arrived. */
interface Run {
  observed: Array<Observed & { framesSent: number }>;
  speechFrames: number;
}

interface Recognizer {
  name: string;
  /** host:port, which failure messages name. */
  address: string;
  /** Whether the upstream's protocol sends text while the audio streams. */
  textDuringSpeech: boolean;
  env(): Record<string, string>;
  /** Upstream streams (sockets, transcribe requests or commits) so far. */
  turnsSeen(): number;
  injectMidStreamClose(): void;
  injectNoAnswer(): void;
  clearFaults(): void;
  close(): Promise<void>;
}

let speech: PcmAudio;

async function gradiumRecognizer(): Promise<Recognizer> {
  const upstream: GradiumUpstream = await startGradiumUpstream({ transcript: CANOE, msPerWord: 300 });
  const stt = () => upstream.connections.filter((connection) => connection.path === '/api/speech/asr');
  return {
    name: 'gradium',
    address: `127.0.0.1:${upstream.port}`,
    textDuringSpeech: true,
    env: () => ({ ASR_ENGINE: 'gradium', GRADIUM_API_KEY: GRADIUM_TEST_KEY, GRADIUM_BASE_URL: upstream.baseUrl }),
    turnsSeen: () => stt().length,
    injectMidStreamClose: () => upstream.configure({ faults: { closeAfterAudioMessages: 10 } }),
    injectNoAnswer: () => upstream.configure({ faults: { neverFlush: true } }),
    clearFaults: () => upstream.configure({ faults: {} }),
    close: () => upstream.close(),
  };
}

async function openaiRecognizer(): Promise<Recognizer> {
  let silent = false;
  const upstream: RealtimeUpstream = await startRealtimeUpstream({
    script: () => (silent ? { transcript: CANOE, delayMs: 3_600_000 } : { transcript: CANOE }),
  });
  return {
    name: 'openai-realtime',
    address: new URL(upstream.url).host,
    textDuringSpeech: false,
    env: () => ({ ASR_ENGINE: 'openai-realtime', OPENAI_REALTIME_URL: upstream.url, AUDIO_API_KEY: 'sk-test-key' }),
    turnsSeen: () => upstream.items.length,
    injectMidStreamClose: () => {
      upstream.faults.closeAfterAppends = { appends: 20, code: 1011, reason: 'internal error' };
    },
    injectNoAnswer: () => {
      silent = true;
    },
    clearFaults: () => {
      silent = false;
      delete upstream.faults.closeAfterAppends;
    },
    close: () => upstream.close(),
  };
}

async function wyomingRecognizer(): Promise<Recognizer> {
  let fault: WyomingFault | undefined;
  const server: WyomingServer = await startWyomingServer({
    asr: { streaming: true, expectFormat: { rate: 16_000, width: 2, channels: 1 }, transcript: () => CANOE },
    fault: () => fault,
  });
  const transcribes = () => server.connections.filter((connection) => connection.events.some((event) => event.type === 'transcribe'));
  return {
    name: 'wyoming',
    address: `127.0.0.1:${server.port}`,
    textDuringSpeech: true,
    env: () => ({ ASR_ENGINE: 'wyoming', WYOMING_ASR_URI: server.uri }),
    turnsSeen: () => transcribes().length,
    injectMidStreamClose: () => {
      fault = 'close-mid-stream';
    },
    injectNoAnswer: () => {
      fault = 'never-answer';
    },
    clearFaults: () => {
      fault = undefined;
    },
    close: () => server.close(),
  };
}

/** Sends `frames` one per 20 ms, noting how many messages had arrived when each was sent. */
async function paced(frames: number, send: (index: number) => void, received: () => number): Promise<number[]> {
  const marks: number[] = [];
  const start = performance.now();
  for (let index = 0; index < frames; index++) {
    const wait = start + index * FRAME_MS - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    marks.push(received());
    send(index);
  }
  return marks;
}

function frameCount(audio: PcmAudio): number {
  return Math.ceil(audio.samples.length / ((audio.sampleRate * FRAME_MS) / 1000));
}

function frameOf(audio: PcmAudio, index: number): Int16Array {
  const size = (audio.sampleRate * FRAME_MS) / 1000;
  return audio.samples.subarray(index * size, (index + 1) * size);
}

/** For each message (by index), the frames sent before it arrived. */
function framesSentAt(marks: number[], messageIndex: number): number {
  let sent = 0;
  while (sent < marks.length && marks[sent] <= messageIndex) sent++;
  return sent;
}

type Door = 'realtime' | 'socketio' | 'gateway' | 'transcriptions';

async function streamOn(door: Door, server: RunningServer, audio: PcmAudio): Promise<Run> {
  const wsBase = server.url.replace(/^http/, 'ws');
  const frames = frameCount(audio);
  const speechFrames = frameCount(speech);
  const collect = (messages: unknown[], marks: number[], classify: (message: any) => Observed | null): Run => ({
    speechFrames,
    observed: messages.flatMap((message, index) => {
      const seen = classify(message);
      return seen ? [{ ...seen, framesSent: framesSentAt(marks, index) }] : [];
    }),
  });
  if (door === 'realtime') {
    const client = await RealtimeClient.connect(`${wsBase}/v1/realtime`);
    try {
      await client.next('session.created');
      const marks = await paced(
        frames,
        (index) => client.send({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(frameOf(audio, index), 'pcm16') }),
        () => client.events.length,
      );
      await client.next(
        (event) => event.type.startsWith('conversation.item.input_audio_transcription.') && ['completed', 'failed'].includes(event.type.split('.').at(-1)!),
        20_000,
      );
      return collect(client.events, marks, (event) => {
        if (event.type === 'conversation.item.input_audio_transcription.delta') return { kind: 'partial', text: event.delta };
        if (event.type === 'conversation.item.input_audio_transcription.completed') return { kind: 'final', text: event.transcript };
        if (event.type === 'conversation.item.input_audio_transcription.failed') return { kind: 'failed', text: event.error.message };
        if (event.type === 'input_audio_buffer.speech_stopped') return { kind: 'stopped', text: '' };
        return null;
      });
    } finally {
      await client.close();
    }
  }
  if (door === 'socketio') {
    const client = await RealtimeSocket.connect(server.url);
    try {
      const marks = await paced(
        frames,
        (index) => client.emit('audio', { audio: encodeBase64Audio(frameOf(audio, index), 'pcm16') }),
        () => client.messages.length,
      );
      await client.next((message) => message.type === 'transcript_final' || message.type === 'error', 20_000);
      return collect(client.messages, marks, (message) => {
        if (message.type === 'transcript_temp') return { kind: 'partial', text: message.content };
        if (message.type === 'transcript_final') return { kind: 'final', text: message.content };
        if (message.type === 'error') return { kind: 'failed', text: message.content };
        return null;
      });
    } finally {
      client.close();
    }
  }
  if (door === 'gateway') {
    const client = await GatewayClient.connect(gatewayUrl(server.url));
    try {
      client.send({ type: 'start' });
      await client.next('ready');
      const marks = await paced(
        frames,
        (index) => client.sendBinary(Buffer.from(int16ToBytes(frameOf(audio, index)))),
        () => client.messages.length,
      );
      await client.next((message) => message.type === 'stt_final' || message.type === 'error', 20_000);
      return collect(client.messages, marks, (message) => {
        if (message.type === 'stt_partial') return { kind: 'partial', text: message.text };
        if (message.type === 'stt_final') return { kind: 'final', text: message.text };
        if (message.type === 'error') return { kind: 'failed', text: message.message ?? message.error };
        return null;
      });
    } finally {
      await client.close();
    }
  }
  const client = await TranscriptionClient.started(`${wsBase}/v1/transcriptions`, { format: 'pcm16', sample_rate: audio.sampleRate });
  try {
    const marks = await paced(
      frames,
      (index) => client.sendBinary(int16ToBytes(frameOf(audio, index))),
      () => client.messages.length,
    );
    await client.next((message) => 'final' in message || 'error' in message, 20_000);
    return collect(client.messages, marks, (message) => {
      if ('partial' in message) return { kind: 'partial', text: message.partial };
      if ('final' in message) return { kind: 'final', text: message.final };
      if ('error' in message) return { kind: 'failed', text: message.error };
      return null;
    });
  } finally {
    client.socket.close(1000);
    await client.closed;
  }
}

function describeRun(run: Run): string {
  return run.observed.map((seen) => `${seen.kind}@${seen.framesSent}${seen.text ? `:${JSON.stringify(seen.text)}` : ''}`).join(', ');
}

const RECOGNIZERS: Array<[string, () => Promise<Recognizer>]> = [
  ['gradium', gradiumRecognizer],
  ['openai-realtime', openaiRecognizer],
  ['wyoming', wyomingRecognizer],
];
const DOORS: Door[] = ['realtime', 'socketio', 'gateway', 'transcriptions'];

before(async () => {
  speech = await recording('en_harvard_birch_canoe.wav', 24000);
});

for (const [name, make] of RECOGNIZERS) {
  describe(`${name} as the recognizer`, () => {
    let recognizer: Recognizer;
    let server: TestServer;

    before(async () => {
      recognizer = await make();
      server = await startConfiguredServer({ REQUEST_TIMEOUT: '3', ...recognizer.env() });
    });

    after(async () => {
      await server?.close();
      await recognizer?.close();
    });

    for (const door of DOORS) {
      test(`${door}: partial text while speaking, then one final text per turn from the live stream`, async () => {
        const turnsBefore = recognizer.turnsSeen();
        const run = await streamOn(door, server, withSilence(speech, 300, TRAILING_SILENCE_MS));
        const finals = run.observed.filter((seen) => seen.kind === 'final');
        assert.deepEqual(
          finals.map((seen) => seen.text),
          [CANOE],
          describeRun(run),
        );
        assert.equal(run.observed.filter((seen) => seen.kind === 'failed').length, 0, describeRun(run));
        const partials = run.observed.filter((seen) => seen.kind === 'partial');
        assert.ok(partials.length > 0, `partials: ${describeRun(run)}`);
        const final = finals[0];
        assert.ok(run.observed.indexOf(partials.at(-1)!) < run.observed.indexOf(final), `partials come before the final: ${describeRun(run)}`);
        const stopped = run.observed.find((seen) => seen.kind === 'stopped');
        if (stopped) assert.ok(run.observed.indexOf(stopped) < run.observed.indexOf(final), `speech_stopped comes before the final: ${describeRun(run)}`);
        if (recognizer.textDuringSpeech) {
          // +15 frames: the 300 ms of silence before the speech.
          assert.ok(partials[0].framesSent <= run.speechFrames + 15, `the first partial came while the recording was still being sent: ${describeRun(run)}`);
          if (stopped)
            assert.ok(run.observed.indexOf(partials[0]) < run.observed.indexOf(stopped), `a partial came before speech_stopped: ${describeRun(run)}`);
        } else if (stopped) {
          assert.ok(run.observed.indexOf(partials[0]) > run.observed.indexOf(stopped), `OpenAI's deltas follow the commit: ${describeRun(run)}`);
        }
        if (door === 'realtime' || door === 'transcriptions') {
          // Append-only deltas add up to the text; the other doors show the text so far.
          if (door === 'realtime') assert.equal(partials.map((seen) => seen.text).join(''), CANOE);
          else assert.equal(partials.at(-1)!.text, CANOE);
        } else assert.equal(partials.at(-1)!.text, CANOE);
        assert.equal(recognizer.turnsSeen() - turnsBefore, 1, 'one upstream stream for the turn, no second pass');
      });
    }

    for (const fault of ['closes mid-stream (1011 on a WebSocket)', 'never answers the end of the audio'] as const) {
      test(`realtime: the upstream ${fault}: the turn fails naming the upstream, and the next turn is transcribed`, async () => {
        if (fault === 'closes mid-stream (1011 on a WebSocket)') recognizer.injectMidStreamClose();
        else recognizer.injectNoAnswer();
        const wsBase = server.url.replace(/^http/, 'ws');
        const client = await RealtimeClient.connect(`${wsBase}/v1/realtime`);
        try {
          await client.next('session.created');
          const audio = withSilence(speech, 300, TRAILING_SILENCE_MS);
          await paced(
            frameCount(audio),
            (index) => client.send({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(frameOf(audio, index), 'pcm16') }),
            () => 0,
          );
          // REQUEST_TIMEOUT is 3 s: the failure comes within it after the end of the audio.
          const failed = await client.next('conversation.item.input_audio_transcription.failed', 15_000);
          if (process.env.SHOW_FAILURES) console.log(`${recognizer.name}, ${fault}: ${failed.error.code}: ${failed.error.message}`);
          assert.ok(String(failed.error.message).includes(recognizer.address), `the error names the upstream ${recognizer.address}: ${failed.error.message}`);
          assert.equal(
            client.events.filter((event) => event.type === 'conversation.item.input_audio_transcription.completed' && event.item_id === failed.item_id).length,
            0,
          );
          recognizer.clearFaults();
          const from = client.events.length;
          await paced(
            frameCount(audio),
            (index) => client.send({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(frameOf(audio, index), 'pcm16') }),
            () => 0,
          );
          const completed = await client.next('conversation.item.input_audio_transcription.completed', 20_000, from);
          assert.equal(completed.transcript, CANOE);
          const outcomes = client.events.filter((event) => /^conversation\.item\.input_audio_transcription\.(completed|failed)$/.test(event.type));
          assert.equal(new Set(outcomes.map((event) => event.item_id)).size, outcomes.length, 'one outcome per turn');
        } finally {
          recognizer.clearFaults();
          await client.close();
        }
      });
    }
  });
}
