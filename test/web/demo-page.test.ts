/**
 * The browser demo page (/demo/) in a real browser: Debian's Chromium driven by
 * playwright-core, its microphone a WAV file made now (espeak-ng speaking a command phrase,
 * padded with silence; Chromium loops it), against the real server on real engines: WebRTC
 * VAD, pocketsphinx with a JSGF grammar, espeak-ng, and the echo responder (a scripted
 * responder with a long answer where an answer must still be playing when the user speaks
 * again). The second server reports its recognizer as the offline fallback, as the engine
 * factory does when whisper's model cannot be had (test/protocols/http/audio-http-engines).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { createPocketsphinxTranscriber, type PocketsphinxTranscriber } from '../../src/providers/local/pocketsphinx-transcriber.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { assembleProviders, startTestServer, type TestServer } from '../helpers/server.ts';
import { repoRoot } from '../helpers/shared.ts';
import { COMMAND_GRAMMAR } from '../helpers/spoken.ts';
import { launchChromium, microphoneFile, requireBrowserTools } from './browser-harness.ts';

const TOKEN = 'demo-page-token';
const PHRASE = 'turn on the light';
/** Long enough (about 15 s spoken) that the looping microphone speaks again while it plays. */
const LONG_ANSWER =
  'Here is a long answer to your request. '.repeat(3) + 'It goes on for a while, one sentence after another, so that you can interrupt it. '.repeat(4);
const ARTIFACTS = path.join(repoRoot, 'test-artifacts');
const FALLBACK = { from: 'whisper base.en', reason: 'the model base.en is not in the model cache and could not be downloaded' };

interface DemoStats {
  playedSamples: number;
  queuedSamples: number;
  receivedSamples: number;
  truncatesSent: number;
  truncatesConfirmed: number;
  lastTruncate: { itemId: string; audioEndMs: number; receivedMs: number } | null;
  errors: number;
  lastError: string | null;
  session: {
    type: string;
    turnDetection: string | null;
    voice: string | null;
    aggressiveness: number | null;
    endMs: number | null;
    mode: string | null;
    targetLanguage: string | null;
  } | null;
  transcripts: number;
  speechStarted: number;
  typedMessages: number;
  talkTurns: number;
  lastTimings: {
    itemId: string | null;
    responseId: string;
    transcriptionMs: number | null;
    firstTokenMs: number | null;
    firstAudioMs: number | null;
    totalMs: number | null;
  } | null;
  partials: number;
  connects: number;
  sessionsCreated: number;
  audioChunksSent: number;
  sampleRate: number | null;
}

let workDir: string;
let microphoneWav: string;
let transcriber: PocketsphinxTranscriber;
let synthesizer: EspeakSynthesizer;
let browser: Browser;
/** Echo responder, API_TOKENS set. */
let echoServer: TestServer;
/** Scripted long answers, no token. */
let storyServer: TestServer;

before(async () => {
  await requireBrowserTools();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-web-test-'));
  await mkdir(ARTIFACTS, { recursive: true });

  // The fake microphone: 0.5 s of silence, the phrase, 3.5 s of silence, looped by Chromium.
  // The first time round Chromium's automatic gain control has not settled and clips the
  // phrase, so the tests wait for the phrase to be heard rather than take the first turn.
  microphoneWav = await microphoneFile(workDir, PHRASE, { beforeSeconds: 0.5, afterSeconds: 3.5 });

  transcriber = await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 20_000 });
  synthesizer = await EspeakSynthesizer.create({ workers: 1 });
  echoServer = await startTestServer(assembleProviders({ transcriber, responder: new EchoResponder(), synthesizer }), { API_TOKENS: TOKEN });
  const story = assembleProviders({ transcriber, responder: new ScriptedResponder({ script: { text: LONG_ANSWER }, deltaChars: 12 }), synthesizer });
  story.summary.transcriber = { engine: 'pocketsphinx', model: 'en-us', note: 'fallback: whisper base.en unavailable', fallback: FALLBACK };
  storyServer = await startTestServer(story);
  browser = await launchChromium(microphoneWav);
});

after(async () => {
  await browser?.close();
  await echoServer?.close();
  await storyServer?.close();
  await synthesizer?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface OpenedPage {
  page: Page;
  /** Every URL the page requested. */
  requests: string[];
  /** Uncaught page errors. */
  errors: string[];
}

async function openDemo(server: TestServer, viewport = { width: 1200, height: 860 }): Promise<OpenedPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => errors.push(error.message));
  const response = await page.goto(`${server.url}/demo`);
  assert.equal(response?.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/demo/', '/demo redirects to /demo/');
  return { page, requests, errors };
}

async function startTalking(page: Page, options: { token?: string; mode?: string } = {}): Promise<void> {
  if (options.mode) await page.getByLabel(options.mode).check();
  if (options.token !== undefined) await page.getByLabel('API token').fill(options.token);
  await page.getByRole('button', { name: 'Start' }).click();
}

function stats(page: Page): Promise<DemoStats> {
  return page.evaluate(() => (window as unknown as { speechbridgeDemo: { stats: DemoStats } }).speechbridgeDemo.stats);
}

async function waitForStats(page: Page, what: string, predicate: (stats: DemoStats) => boolean, timeoutMs = 20_000): Promise<DemoStats> {
  const deadline = Date.now() + timeoutMs;
  let last = await stats(page);
  while (!predicate(last)) {
    if (Date.now() > deadline) throw new Error(`the page never showed ${what} within ${timeoutMs} ms; its stats: ${JSON.stringify(last)}`);
    await page.waitForTimeout(100);
    last = await stats(page);
  }
  return last;
}

/** Waits until the microphone meter (0–100) is above a level. */
async function waitForLevel(page: Page, what: string, above: number, timeoutMs: number): Promise<void> {
  await page
    .waitForFunction((limit) => Number(document.getElementById('level')?.getAttribute('aria-valuenow')) > limit, above, { timeout: timeoutMs })
    .catch(() => assert.fail(`the microphone meter never showed ${what} within ${timeoutMs} ms`));
}

/** Waits until the microphone meter has stayed below 5 for 0.7 s: the silence between phrases, not a dip between words. */
async function waitForQuiet(page: Page, what: string, timeoutMs: number): Promise<void> {
  const key = `quietSince${Math.random()}`;
  await page
    .waitForFunction(
      (since) => {
        const marks = window as unknown as Record<string, number | undefined>;
        const level = Number(document.getElementById('level')?.getAttribute('aria-valuenow'));
        if (!(level < 5)) {
          marks[since] = undefined;
          return false;
        }
        marks[since] ??= performance.now();
        return performance.now() - marks[since] >= 700;
      },
      key,
      { timeout: timeoutMs, polling: 50 },
    )
    .catch(() => assert.fail(`the microphone meter never showed ${what} (below 5 for 0.7 s) within ${timeoutMs} ms`));
}

async function statusOf(page: Page): Promise<{ state: string | null; text: string }> {
  const status = page.locator('#status');
  return { state: await status.getAttribute('data-state'), text: (await status.textContent()) ?? '' };
}

test('the gateway serves the page at /demo/ and /static/index.html, outside the token check, with a same-origin-only policy', async () => {
  const redirect = await fetch(`${echoServer.url}/demo`, { redirect: 'manual' });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get('location'), '/demo/');
  for (const url of [`${echoServer.url}/demo/`, `${echoServer.url}/static/index.html`]) {
    const page = await fetch(url);
    assert.equal(page.status, 200, `${url} answers without a token although API_TOKENS is set`);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\.\/app\.js">/);
  }
  const worklet = await fetch(`${echoServer.url}/demo/playback-worklet.js`);
  assert.equal(worklet.status, 200);
  assert.match(worklet.headers.get('content-type') ?? '', /javascript/);
  assert.equal((await fetch(`${echoServer.url}/demo/missing.js`)).status, 404);
});

test('the capture worklet, run at 48 kHz (Firefox’s path), resamples to 24 kHz PCM16 without aliasing', async () => {
  const { page, errors } = await openDemo(storyServer);
  // One second of a 1 kHz tone (kept) plus a 14 kHz tone (above 24 kHz audio's 12 kHz
  // Nyquist: a plain decimation would fold it to 10 kHz), rendered offline through the worklet.
  const chunks = await page.evaluate(async () => {
    const context = new OfflineAudioContext({ numberOfChannels: 1, length: 48000, sampleRate: 48000 });
    await context.audioWorklet.addModule('./capture-worklet.js');
    const node = new AudioWorkletNode(context, 'speechbridge-capture', {
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { targetRate: 24000 },
    });
    const received: number[][] = [];
    node.port.onmessage = (event) => received.push(Array.from(event.data.samples as Int16Array));
    const buffer = context.createBuffer(1, 48000, 48000);
    const samples = buffer.getChannelData(0);
    for (let index = 0; index < samples.length; index++) {
      samples[index] = 0.4 * Math.sin((2 * Math.PI * 1000 * index) / 48000) + 0.4 * Math.sin((2 * Math.PI * 14000 * index) / 48000);
    }
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(node);
    node.connect(context.destination);
    source.start();
    await context.startRendering();
    // The last chunks' messages are still on their way to the page.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return received;
  });
  assert.ok(chunks.length >= 23, `about a second of 40 ms chunks came out (${chunks.length})`);
  assert.ok(
    chunks.every((chunk) => chunk.length === 960),
    'each chunk is 40 ms at 24 kHz',
  );
  // Skip the first chunk (the filter filling up); the rest holds whole cycles of both tones.
  const output = chunks
    .slice(1)
    .flat()
    .map((value) => value / 32768);
  const amplitude = (frequency: number) => {
    let re = 0;
    let im = 0;
    for (let index = 0; index < output.length; index++) {
      re += output[index] * Math.cos((2 * Math.PI * frequency * index) / 24000);
      im -= output[index] * Math.sin((2 * Math.PI * frequency * index) / 24000);
    }
    return (2 * Math.hypot(re, im)) / output.length;
  };
  const kept = amplitude(1000);
  const folded = amplitude(10000);
  assert.ok(Math.abs(kept - 0.4) < 0.01, `the 1 kHz tone passes unchanged (${kept.toFixed(4)} of 0.4)`);
  assert.ok(folded < 0.4 / 1000, `the 14 kHz tone does not fold to 10 kHz: ${(20 * Math.log10(folded / 0.4)).toFixed(1)} dB`);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the fake microphone’s phrase comes back as a final transcript, the echoed reply streams in and its audio is played', async () => {
  const { page, requests, errors } = await openDemo(echoServer);
  // The engines line names what GET / reports; no fallback here.
  const health = (await (await fetch(`${echoServer.url}/`)).json()) as { engines: Record<string, { engine: string }> };
  await page.locator('#engines[data-state="ready"]').waitFor({ timeout: 5000 });
  const enginesLine = (await page.locator('#engines').textContent()) ?? '';
  for (const stage of ['transcriber', 'responder', 'synthesizer', 'vad']) {
    assert.ok(enginesLine.includes(health.engines[stage].engine), `the engines line names the ${stage} ${health.engines[stage].engine}: ${enginesLine}`);
  }
  assert.match(enginesLine, /^Engines: speech recognition pocketsphinx · LLM echo · speech espeak-ng/);
  assert.equal(await page.locator('#fallback').isHidden(), true, 'no fallback notice when none runs');
  // 1.5 s of silence ends a turn: the turn stays open after the phrase while an interim pass
  // over the whole phrase (pocketsphinx's grammar matches only whole commands) comes back.
  await page.getByLabel('Silence that ends a turn').fill('1500');
  await startTalking(page, { token: TOKEN, mode: 'Assistant (spoken reply)' });

  // While the phrase is being spoken the live line says so, then shows the partial text.
  await page.locator('#partial[data-state="listening"]').filter({ hasText: 'listening…' }).waitFor({ timeout: 10_000 });
  await page.locator('#partial[data-state="text"]').waitFor({ timeout: 10_000 });
  const userTurn = page.locator('.turn.user[data-state="final"]').filter({ hasText: PHRASE }).first();
  await userTurn.waitFor({ timeout: 20_000 });
  assert.equal((await userTurn.locator('p').textContent())?.trim(), PHRASE, 'pocketsphinx heard the fake microphone');
  assert.match((await userTurn.locator('time').getAttribute('datetime')) ?? '', /^\d{4}-\d\d-\d\dT/, 'the transcript carries its time');

  // The first reply on the page is the echo of that turn (an unrecognized turn gets no reply).
  const reply = page.locator('.turn.assistant').first();
  await page.locator('.turn.assistant[data-state="final"]').first().waitFor({ timeout: 20_000 });
  assert.equal((await reply.locator('p').textContent())?.trim().toLowerCase(), PHRASE, 'the echo responder says back what it heard');

  // The whole reply (espeak-ng, 24 kHz) reaches the playback worklet and is played out.
  const played = await waitForStats(page, 'the reply played to its end', (s) => s.receivedSamples > 0 && s.playedSamples >= s.receivedSamples);
  assert.equal(played.sampleRate, 24000);
  assert.ok(played.receivedSamples > 24000 * 0.5, `at least half a second of reply audio arrived (${played.receivedSamples} samples)`);
  assert.equal(played.queuedSamples, 0);
  assert.ok(played.audioChunksSent > 0);
  assert.deepEqual(await statusOf(page), { state: 'live', text: 'Live' });

  // The gateway's own timings of the turn: the latency line, and the same under the reply.
  const timed = await waitForStats(page, 'speechbridge.turn.timings', (s) => s.lastTimings !== null);
  assert.ok(
    timed.lastTimings &&
      [timed.lastTimings.transcriptionMs, timed.lastTimings.firstTokenMs, timed.lastTimings.firstAudioMs, timed.lastTimings.totalMs].every(
        (ms) => typeof ms === 'number' && ms >= 0,
      ),
  );
  const latencyText = (await page.locator('#latency').textContent()) ?? '';
  assert.match(latencyText, /^Last turn: speech end → transcript \d+ ms → first token \d+ ms → first audio \d+ ms \(\d+ ms in all\)$/);
  assert.match(
    (await reply.locator('.latency').textContent()) ?? '',
    /^speech end → transcript \d+ ms → first token \d+ ms → first audio \d+ ms \(\d+ ms in all\)$/,
  );

  // The event log, folded until opened: what the page sent and received, audio runs on one line each.
  assert.equal(await page.locator('#events').isVisible(), false);
  await page.locator('#event-log summary').click();
  const log = page.locator('#events');
  assert.equal(await log.isVisible(), true);
  assert.equal(await log.locator('li[data-direction="received"][data-type="session.created"]').count(), 1);
  assert.ok((await log.locator('li[data-direction="sent"][data-type="session.update"]').count()) >= 1);
  assert.ok((await log.locator('li[data-direction="received"][data-type="speechbridge.turn.timings"]').count()) >= 1);
  assert.ok(
    (await log
      .locator('li[data-type="input_audio_buffer.append"] .count')
      .filter({ hasText: /^×\d+$/ })
      .count()) >= 1,
    'a run of appends is one line with its count',
  );
  // Read at one instant: events keep arriving while the microphone loops.
  const counts = await page.evaluate(() => ({
    logged: (window as unknown as { speechbridgeDemo: { eventsLogged: number } }).speechbridgeDemo.eventsLogged,
    shown: Number(document.getElementById('event-count')?.textContent),
    lines: document.querySelectorAll('#events li').length,
  }));
  assert.equal(counts.shown, counts.logged, 'the summary counts every event');
  assert.ok(counts.logged > counts.lines, 'runs of one type share a line');
  assert.ok(counts.lines <= 200, 'the log keeps at most 200 lines');
  // The bound itself, on the page's own module: 250 events of different types keep the newest 200 lines.
  const bounded = await page.evaluate(async (module) => {
    const { EventLog } = await import(module);
    const list = document.createElement('ol');
    const counter = document.createElement('span');
    const eventLog = new EventLog(list, counter);
    for (let index = 0; index < 250; index++) eventLog.add(index % 2 ? 'sent' : 'received', { type: `event.${index}` });
    return { lines: list.children.length, first: list.firstElementChild?.getAttribute('data-type'), total: counter.textContent };
  }, './event-log.js');
  assert.deepEqual(bounded, { lines: 200, first: 'event.50', total: '250' });

  // The meter follows the microphone: it rises when the phrase comes round again.
  await page.waitForFunction(() => Number(document.getElementById('level')?.getAttribute('aria-valuenow')) > 30, null, { timeout: 10_000 });

  await page.screenshot({ path: path.join(ARTIFACTS, 'demo-after-turn.png'), fullPage: true });

  // Settings apply to the live session, from the keyboard too; the gateway reports them back.
  await page.getByLabel('Voice').selectOption('coral');
  await page.getByLabel('Silence that ends a turn').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await page.getByLabel('Speech detection strictness').focus();
  await page.keyboard.press('ArrowRight');
  await page.getByLabel('Translate', { exact: true }).check();
  await page.getByLabel('Translate into').selectOption('de');
  const updated = await waitForStats(page, 'the new settings in session.updated', (s) => s.session?.targetLanguage === 'de' && s.session.endMs === 1600, 5000);
  assert.deepEqual(updated.session, {
    type: 'realtime',
    turnDetection: 'server_vad',
    voice: 'coral',
    aggressiveness: 3,
    endMs: 1600,
    mode: 'translate',
    targetLanguage: 'de',
  });
  assert.equal(updated.errors, 0, `the gateway accepted every update (${updated.lastError})`);
  // The session had spoken, and OpenAI's rule keeps a session's voice once it has: the new voice came with a new session.
  assert.equal(updated.connects, 2, 'the page reconnected for the new voice');

  const origin = new URL(echoServer.url).origin;
  const foreign = requests.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'));
  assert.deepEqual(foreign, [], 'everything the page loads comes from the gateway');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('barge-in (on a phone-sized screen): speaking during a long spoken answer stops playback at once and truncates the answer to what was heard', async () => {
  const { page, errors } = await openDemo(storyServer, { width: 390, height: 844 });
  // This server's recognizer is the offline fallback: the page says so, and why.
  const fallback = page.locator('#fallback');
  await fallback.waitFor({ state: 'visible', timeout: 5000 });
  assert.match(
    (await fallback.textContent()) ?? '',
    /^Offline fallback: pocketsphinx is transcribing instead of whisper base\.en, because the model base\.en is not in the model cache and could not be downloaded\. Expect rough transcripts/,
  );
  await startTalking(page, { mode: 'Assistant (spoken reply)' });

  // The looping microphone speaks again about 3.5 s into the answer (earlier if transcription is slow).
  const truncated = await waitForStats(
    page,
    'an answer cut while playing, confirmed by the gateway',
    (s) => (s.lastTruncate?.audioEndMs ?? 0) > 0 && s.truncatesConfirmed === s.truncatesSent,
    30_000,
  );
  const cut = truncated.lastTruncate;
  assert.ok(cut, 'the page recorded what it truncated');
  assert.ok(cut.audioEndMs > 0, `some of the answer was heard before the interruption (${cut.audioEndMs} ms)`);
  assert.ok(cut.audioEndMs < cut.receivedMs - 1000, `playback stopped well before the end of the answer: ${cut.audioEndMs} of ${cut.receivedMs} ms`);
  assert.equal(truncated.queuedSamples, 0, 'nothing is left queued to play');

  // Played audio stops growing: the rest of the answer is never played.
  const before = truncated.playedSamples;
  await page.waitForTimeout(500);
  const later = await stats(page);
  assert.ok(later.playedSamples - before < 24000 * 0.2, `playback stayed stopped (${later.playedSamples - before} samples after the cut)`);
  assert.ok(later.playedSamples < later.receivedSamples, 'less audio was played than received');
  assert.equal(later.errors, 0, `the gateway accepted the truncate (${later.lastError})`);
  await page.locator(`.turn.assistant[data-item-id="${cut.itemId}"] .note`).filter({ hasText: 'interrupted' }).waitFor({ timeout: 5000 });

  await page.screenshot({ path: path.join(ARTIFACTS, 'demo-phone.png'), fullPage: true });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling on a phone-sized screen (${width} px wide)`);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a wrong token: the page says the server refused the connection and to check the token, and does not retry', async () => {
  const { page, errors } = await openDemo(echoServer);
  await startTalking(page, { token: 'not-the-token' });
  const notice = page.locator('#notice');
  await notice.waitFor({ state: 'visible', timeout: 10_000 });
  const text = (await notice.textContent()) ?? '';
  assert.match(text, /refused the connection/);
  assert.match(text, /invalid API token/);
  assert.match(text, /Check the token/);
  assert.equal((await statusOf(page)).state, 'closed');
  await page.waitForTimeout(1500);
  const after = await stats(page);
  assert.equal(after.connects, 0, 'no session was opened');
  assert.equal((await statusOf(page)).state, 'closed', 'it did not retry with the same token');
  assert.equal(await page.getByRole('button', { name: 'Start' }).isEnabled(), true, 'the user can fix the token and start again');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a server restart: the page shows reconnecting, then live again on the new server, and transcribes again', async () => {
  const { page, errors } = await openDemo(echoServer);
  await startTalking(page, { token: TOKEN, mode: 'Transcribe only' });
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 10_000 });
  const port = echoServer.port;

  await echoServer.close();
  await page.locator('#status[data-state="reconnecting"]').waitFor({ timeout: 10_000 });
  assert.match((await statusOf(page)).text, /Reconnecting/);
  const beforeRestart = await stats(page);

  echoServer = await startTestServer(assembleProviders({ transcriber, responder: new EchoResponder(), synthesizer }), {
    API_TOKENS: TOKEN,
    SERVER_PORT: String(port),
  });
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 20_000 });
  const live = await stats(page);
  assert.equal(live.sessionsCreated, beforeRestart.sessionsCreated + 1, 'a new session on the new server');
  // The first turn of the new session may start mid-phrase; the next full one is recognized.
  const heard = page.locator('.turn.user[data-state="final"]').filter({ hasText: PHRASE });
  const heardBefore = await heard.count();
  await page.waitForFunction(
    ({ phrase, count }) => [...document.querySelectorAll('.turn.user[data-state="final"] p')].filter((p) => p.textContent?.trim() === phrase).length > count,
    { phrase: PHRASE, count: heardBefore },
    { timeout: 20_000 },
  );
  const afterRestart = await stats(page);
  assert.ok(afterRestart.transcripts > beforeRestart.transcripts, 'the new session transcribes the microphone');
  assert.equal(afterRestart.session?.type, 'transcription', 'the settings were sent again on the new connection');
  assert.equal(afterRestart.errors, 0, `no gateway errors (${afterRestart.lastError})`);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a typed message is answered like a spoken one (push to talk on, so the looping microphone stays out of it)', async () => {
  const { page, errors } = await openDemo(echoServer);
  const box = page.getByLabel('Message to send');
  assert.equal(await box.isDisabled(), true, 'nothing to type into before a session');
  await page.getByLabel('Push to talk').check();
  await startTalking(page, { token: TOKEN, mode: 'Assistant (spoken reply)' });
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 10_000 });
  await page.locator('#message:not([disabled])').waitFor({ timeout: 5000 });

  await box.fill('hello from the keyboard');
  await box.press('Enter');
  const typed = page.locator('.turn.user[data-typed="true"]');
  await typed.waitFor({ timeout: 5000 });
  assert.equal((await typed.locator('p').textContent())?.trim(), 'hello from the keyboard');
  assert.equal((await typed.locator('.note').textContent())?.trim(), 'typed');
  assert.equal(await box.inputValue(), '', 'the box is cleared for the next message');
  const reply = page.locator('.turn.assistant[data-state="final"]').first();
  await reply.waitFor({ timeout: 20_000 });
  assert.equal((await reply.locator('p').textContent())?.trim().toLowerCase(), 'hello from the keyboard', 'the echo responder answers the typed text');

  const answered = await waitForStats(page, 'the spoken answer and its timings', (s) => s.receivedSamples > 0 && s.lastTimings !== null);
  assert.equal(answered.typedMessages, 1);
  assert.equal(answered.session?.turnDetection, null, 'push to talk turns speech detection off');
  assert.equal(answered.audioChunksSent, 0, 'no microphone audio went out while the button was not held');
  assert.equal(answered.speechStarted, 0);
  assert.equal(answered.lastTimings?.transcriptionMs, null, 'a typed message has no transcription stage');
  assert.match((await page.locator('#latency').textContent()) ?? '', /^Last turn: typed → first token \d+ ms → first audio \d+ ms \(\d+ ms in all\)$/);
  assert.equal(answered.errors, 0, `the gateway accepted the message (${answered.lastError})`);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('push to talk: holding the button over the phrase makes one answered turn; Stop while the next turn is transcribing leaves the page cleanly closed', async () => {
  const { page, errors } = await openDemo(echoServer);
  await page.getByLabel('Push to talk').check();
  const talk = page.locator('#talk');
  assert.equal(await talk.isVisible(), true, 'push to talk shows the talk button');
  assert.equal(await talk.isDisabled(), true, 'which works only in a live session');
  await startTalking(page, { token: TOKEN, mode: 'Assistant (spoken reply)' });
  await page.locator('#talk:not([disabled])').waitFor({ timeout: 10_000 });

  // Pressed in the silence after the looping phrase and released in the silence after the
  // next one: the turn holds that whole phrase and none of the one after it. Silence is the
  // meter staying low for 0.7 s, not a dip between two words.
  await waitForLevel(page, 'the phrase', 30, 15_000);
  await waitForQuiet(page, 'the silence after the phrase', 15_000);
  await talk.hover();
  await page.mouse.down();
  assert.equal(await talk.getAttribute('aria-pressed'), 'true');
  await waitForLevel(page, 'the next phrase, with the button held', 30, 10_000);
  await waitForQuiet(page, 'the silence after it', 10_000);
  await page.mouse.up();
  assert.equal(await talk.getAttribute('aria-pressed'), 'false');

  const userTurn = page.locator('.turn.user[data-state="final"]').first();
  await userTurn.waitFor({ timeout: 20_000 });
  assert.equal((await userTurn.locator('p').textContent())?.trim(), PHRASE, 'the held audio is the turn');
  await page.locator('.turn.assistant[data-state="final"]').first().waitFor({ timeout: 20_000 });
  assert.equal((await page.locator('.turn.assistant p').first().textContent())?.trim().toLowerCase(), PHRASE);
  const first = await stats(page);
  assert.equal(first.talkTurns, 1);
  assert.equal(first.speechStarted, 0, 'no speech detection: the button made the turn');
  assert.equal(first.session?.turnDetection, null);
  assert.equal(first.errors, 0, `no gateway errors (${first.lastError})`);

  // A second turn, and Stop as soon as it is committed, while it is still being transcribed: the
  // live recognizer answers within a few hundred ms, so the page clicks Stop itself the moment the
  // turn shows as pending, before any later message from the server can be handled.
  await page.mouse.down();
  await page.waitForTimeout(1500);
  const stoppedWhilePending = page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const observer = new MutationObserver(() => {
          const pending = document.querySelector('.turn.user[data-state="pending"] p');
          if (!pending) return;
          observer.disconnect();
          const text = pending.textContent ?? '';
          document.querySelector<HTMLButtonElement>('#stop')!.click();
          resolve(text);
        });
        observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
      }),
  );
  await page.mouse.up();
  assert.equal((await stoppedWhilePending).trim(), 'transcribing…');

  assert.deepEqual(await statusOf(page), { state: 'closed', text: 'Stopped' });
  assert.equal(await page.locator('.turn[data-state="pending"], .turn[data-state="streaming"]').count(), 0, 'nothing still says it is coming');
  assert.equal((await page.locator('.turn.user[data-state="stopped"] p').textContent())?.trim(), '(stopped before it was transcribed)');
  assert.equal((await page.locator('#partial').textContent())?.trim(), 'Stopped. Press Start to talk again.');
  assert.equal(await page.getByRole('button', { name: 'Start' }).isEnabled(), true);
  assert.equal(await page.getByRole('button', { name: 'Stop' }).isDisabled(), true);
  assert.equal(await talk.isDisabled(), true);
  assert.equal(await page.getByLabel('Message to send').isDisabled(), true);
  assert.equal(await page.locator('#level').getAttribute('aria-valuetext'), 'off', 'the microphone is off');
  // It stays that way: no reconnect, no late event reopening the turn.
  const closedAt = await stats(page);
  await page.waitForTimeout(2000);
  assert.deepEqual(await statusOf(page), { state: 'closed', text: 'Stopped' });
  assert.equal(await page.locator('.turn[data-state="pending"]').count(), 0);
  const later = await stats(page);
  assert.equal(later.connects, closedAt.connects, 'no reconnect after Stop');
  assert.equal(later.transcripts, closedAt.transcripts, 'the stopped session’s late events are ignored');
  assert.deepEqual(errors, []);
  await page.context().close();
});
