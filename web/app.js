// @ts-check
/**
 * The demo page: microphone → /v1/realtime → transcripts, replies and the reply's voice.
 *
 * One session at a time. Settings map onto the realtime session as follows:
 * - Transcribe only: a transcription session (`?intent=transcription`), no replies.
 * - Assistant: `speechbridge.mode: "reply"` — the configured LLM answers, spoken.
 * - Translate: `speechbridge.mode: "translate"` with `target_language`.
 * - Echo: `speechbridge.mode: "rewrite"` — says back what it heard: word for word with the
 *   embedded echo LLM, cleaned up with a configured one. (Which LLM runs is the server's
 *   choice, LLM_ENGINE; a page cannot pick it.)
 * - VAD strictness and end silence: `turn_detection.aggressiveness` / `end_ms`; voice:
 *   `audio.output.voice`.
 *
 * Barge-in: when the gateway reports `input_audio_buffer.speech_started`, playback stops at
 * once and `conversation.item.truncate` tells it how much of the reply was heard.
 */
import { GatewaySocket, MAX_BUFFERED_BYTES } from './gateway-socket.js';
import { History } from './history.js';
import { Microphone } from './microphone.js';
import { base64ToInt16, int16ToBase64 } from './pcm.js';
import { Player } from './player.js';

/** The wire rate both ways: OpenAI's pcm16. */
const SAMPLE_RATE = 24000;
const PCM_FORMAT = { type: 'audio/pcm', rate: SAMPLE_RATE };
const SETTINGS_KEY = 'speechbridge-demo-settings';
/** Interrupted and truncated replies remembered: the newest 64. */
const MAX_REMEMBERED_ITEMS = 64;

/** @typedef {'transcribe' | 'assistant' | 'translate' | 'echo'} Mode */
/** @typedef {{ mode: Mode, language: string, voice: string, aggressiveness: number, endMs: number }} Settings */

/** @type {Record<Mode, { kind: 'transcription' } | { kind: 'conversation', responder: 'reply' | 'translate' | 'rewrite' }>} */
const MODES = {
  transcribe: { kind: 'transcription' },
  assistant: { kind: 'conversation', responder: 'reply' },
  translate: { kind: 'conversation', responder: 'translate' },
  echo: { kind: 'conversation', responder: 'rewrite' },
};

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const form = /** @type {HTMLFormElement} */ ($('settings'));
const startButton = /** @type {HTMLButtonElement} */ ($('start'));
const stopButton = /** @type {HTMLButtonElement} */ ($('stop'));
const tokenInput = /** @type {HTMLInputElement} */ ($('token'));
const moreSettings = /** @type {HTMLDetailsElement} */ ($('more-settings'));
const statusLine = $('status');
const notice = $('notice');
const level = $('level');
const levelBar = /** @type {HTMLElement} */ (level.querySelector('.level-bar'));
const history = new History(/** @type {HTMLOListElement} */ ($('history')), $('partial'));

const stats = {
  connects: 0,
  sessionsCreated: 0,
  audioChunksSent: 0,
  audioChunksDropped: 0,
  speechStarted: 0,
  /** Partial transcripts of turns being spoken. */
  partials: 0,
  transcripts: 0,
  /** Assistant audio samples received from the gateway and handed to the playback node. */
  receivedSamples: 0,
  truncatesSent: 0,
  truncatesConfirmed: 0,
  /** @type {{ itemId: string, audioEndMs: number, receivedMs: number } | null} */
  lastTruncate: null,
  errors: 0,
  /** @type {string | null} */
  lastError: null,
  /**
   * The session as the gateway last reported it (session.created / session.updated).
   * @type {{ type: string, voice: string | null, aggressiveness: number | null, endMs: number | null, mode: string | null, targetLanguage: string | null } | null}
   */
  session: null,
};

/**
 * What runs while the page is started.
 * @type {{ socket: GatewaySocket, kind: 'transcription' | 'conversation' } | null}
 */
let session = null;
/** @type {AudioContext | null} */
let audioContext = null;
/** @type {Player | null} */
let player = null;
/** @type {Microphone | null} */
let microphone = null;
/** Assistant items whose response is still running. */
const activeItems = new Set();
/** @type {Set<string>} Replies the user spoke over: their late audio deltas are not played. */
const interruptedItems = new Set();
/** @type {Set<string>} Replies already truncated. */
const truncatedItems = new Set();
/** Samples pushed per assistant item, for the truncate report. */
const receivedByItem = new Map();
/** @type {string | null} The assistant item whose audio was pushed last. */
let lastAudioItem = null;

// ── Settings ────────────────────────────────────────────────────────────────────────────

/** @returns {Settings} */
function readSettings() {
  const data = new FormData(form);
  return {
    mode: /** @type {Mode} */ (String(data.get('mode') ?? 'assistant')),
    language: String(data.get('language') ?? 'fr'),
    voice: String(data.get('voice') ?? 'alloy'),
    aggressiveness: Number(data.get('aggressiveness') ?? 2),
    endMs: Number(data.get('endMs') ?? 450),
  };
}

function restoreSettings() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? 'null');
  } catch {
    saved = null;
  }
  if (!saved || typeof saved !== 'object') return;
  const set = (/** @type {string} */ name, /** @type {unknown} */ value) => {
    if (value === undefined || value === null) return;
    const control = form.elements.namedItem(name);
    if (control instanceof RadioNodeList) {
      for (const radio of control) if (radio instanceof HTMLInputElement) radio.checked = radio.value === String(value);
    } else if (control instanceof HTMLInputElement || control instanceof HTMLSelectElement) {
      control.value = String(value);
    }
  };
  for (const name of ['mode', 'language', 'voice', 'aggressiveness', 'endMs']) set(name, saved[name]);
}

function showSettings() {
  const settings = readSettings();
  $('language-field').hidden = settings.mode !== 'translate';
  $('voice-field').hidden = settings.mode === 'transcribe';
  $('aggressiveness-value').textContent = String(settings.aggressiveness);
  $('end-ms-value').textContent = `${settings.endMs} ms`;
}

/**
 * The session.update for the settings, in the GA shape.
 * @param {Settings} settings
 */
function sessionUpdate(settings) {
  const mode = MODES[settings.mode];
  const turnDetection = { type: 'server_vad', aggressiveness: settings.aggressiveness, end_ms: settings.endMs };
  if (mode.kind === 'transcription') {
    return {
      type: 'session.update',
      session: { type: 'transcription', audio: { input: { format: PCM_FORMAT, turn_detection: turnDetection } }, speechbridge: { interim_transcripts: true } },
    };
  }
  return {
    type: 'session.update',
    session: {
      type: 'realtime',
      output_modalities: ['audio'],
      audio: { input: { format: PCM_FORMAT, turn_detection: turnDetection }, output: { format: PCM_FORMAT, voice: settings.voice } },
      speechbridge: { mode: mode.responder, interim_transcripts: true, ...(mode.responder === 'translate' && { target_language: settings.language }) },
    },
  };
}

function onSettingsChanged() {
  showSettings();
  const settings = readSettings();
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
  } catch {
    // Storage can be off (private mode); the settings still apply to this page.
  }
  if (!session) return;
  // A transcription session and a conversation are different sessions: switching reconnects.
  if (MODES[settings.mode].kind !== session.kind) {
    session.socket.stop('switching mode');
    session = null;
    resetPlayback();
    connect();
  } else {
    session.socket.send(sessionUpdate(settings));
  }
}

// ── Connection ──────────────────────────────────────────────────────────────────────────

async function start() {
  hideNotice();
  if (!window.isSecureContext) {
    showNotice('The microphone and audio worklets work only on a secure page: open it over https (TLS_CERT / TLS_KEY) or on localhost.');
    return;
  }
  startButton.disabled = true;
  stopButton.disabled = false;
  try {
    // A 24 kHz context: the browser resamples the microphone and plays the wire's rate as is.
    audioContext ??= new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: 'interactive' });
    player ??= await Player.create(audioContext);
    if (audioContext.state === 'suspended') await audioContext.resume();
    microphone = await Microphone.open(audioContext, onMicrophoneChunk);
  } catch (error) {
    showNotice(`Audio: ${describeMicrophoneError(error)}`);
    await stop('microphone unavailable');
    return;
  }
  connect();
}

function connect() {
  const settings = readSettings();
  const kind = MODES[settings.mode].kind;
  const url = new URL('/v1/realtime', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (kind === 'transcription') url.searchParams.set('intent', 'transcription');
  const socket = new GatewaySocket({
    url,
    token: tokenInput.value.trim(),
    onStatus: (status) => onStatus(socket, status),
    onOpen: () => {
      stats.connects++;
      socket.send(sessionUpdate(readSettings()));
    },
    onEvent: (event) => onServerEvent(socket, event),
  });
  session = { socket, kind };
  socket.start();
}

/** @param {string} reason */
async function stop(reason) {
  const current = session;
  session = null;
  current?.socket.stop(reason);
  if (!current) showStatus({ state: 'closed', reason, fatal: false });
  await closeMicrophone();
  resetPlayback();
  history.idleText = 'Stopped. Press Start to talk again.';
  history.setPartial('idle');
  startButton.disabled = false;
  stopButton.disabled = true;
}

async function closeMicrophone() {
  const open = microphone;
  microphone = null;
  showLevel(0);
  await open?.close().catch(() => undefined);
}

/**
 * @param {GatewaySocket} socket
 * @param {import('./gateway-socket.js').ConnectionStatus} status
 */
function onStatus(socket, status) {
  if (session?.socket !== socket) return;
  showStatus(status);
  if (status.state === 'reconnecting') resetPlayback();
  if (status.state === 'closed' && status.fatal) {
    showNotice(status.reason);
    if (status.auth) {
      moreSettings.open = true;
      tokenInput.focus();
    }
    void stop(status.reason);
    // stop() shows a plain "closed"; the reason is what the user needs to read.
    showStatus(status);
  }
}

/** @param {import('./gateway-socket.js').ConnectionStatus} status */
function showStatus(status) {
  statusLine.dataset.state = status.state;
  switch (status.state) {
    case 'idle':
      statusLine.textContent = 'Not connected';
      break;
    case 'connecting':
      statusLine.textContent = status.attempt > 0 ? `Connecting (attempt ${status.attempt + 1})…` : 'Connecting…';
      break;
    case 'live':
      statusLine.textContent = 'Live';
      break;
    case 'reconnecting':
      statusLine.textContent = `Reconnecting in ${(status.delayMs / 1000).toFixed(1)} s (${status.reason})…`;
      break;
    case 'closed':
      statusLine.textContent = `Closed: ${status.reason}`;
      break;
  }
}

// ── Audio in ────────────────────────────────────────────────────────────────────────────

/** @param {import('./microphone.js').CaptureChunk} chunk */
function onMicrophoneChunk(chunk) {
  showLevel(chunk.rms);
  const socket = session?.socket;
  // Audio is sent only into a live session; while (re)connecting it is dropped, not queued.
  if (!socket || socket.status.state !== 'live' || socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    stats.audioChunksDropped++;
    return;
  }
  if (socket.send({ type: 'input_audio_buffer.append', audio: int16ToBase64(chunk.samples) })) stats.audioChunksSent++;
  else stats.audioChunksDropped++;
}

/**
 * The meter shows -60…0 dBFS: speech at a normal distance sits around -30 to -15.
 * @param {number} rms
 */
function showLevel(rms) {
  const db = 20 * Math.log10(Math.max(rms, 1e-6));
  const fraction = Math.min(1, Math.max(0, (db + 60) / 60));
  levelBar.style.transform = `scaleX(${fraction.toFixed(3)})`;
  level.setAttribute('aria-valuenow', String(Math.round(fraction * 100)));
  level.setAttribute('aria-valuetext', rms > 0 ? `${Math.round(db)} dB` : 'off');
}

// ── Server events ───────────────────────────────────────────────────────────────────────

/**
 * @param {GatewaySocket} socket
 * @param {{ type: string } & Record<string, any>} event
 */
function onServerEvent(socket, event) {
  if (session?.socket !== socket) return;
  switch (event.type) {
    case 'session.updated':
      stats.session = sessionSummary(event.session);
      break;
    case 'session.created':
      stats.session = sessionSummary(event.session);
      stats.sessionsCreated++;
      socket.markLive();
      hideNotice();
      history.idleText = 'Waiting for you to speak.';
      history.setPartial('idle');
      break;
    case 'input_audio_buffer.speech_started':
      stats.speechStarted++;
      history.setPartial('listening');
      void bargeIn(socket);
      break;
    case 'input_audio_buffer.speech_stopped':
      history.setPartial('transcribing');
      break;
    case 'input_audio_buffer.committed':
      history.userPending(event.item_id);
      break;
    case 'conversation.item.input_audio_transcription.delta':
      history.partialDelta(event.item_id, String(event.delta ?? ''));
      break;
    case 'conversation.item.input_audio_transcription.partial':
      stats.partials++;
      history.partialWhole(event.item_id, String(event.transcript ?? ''));
      break;
    case 'conversation.item.input_audio_transcription.completed':
      stats.transcripts++;
      history.userFinal(event.item_id, String(event.transcript ?? ''));
      break;
    case 'conversation.item.input_audio_transcription.failed':
      history.userFailed(event.item_id, event.error?.message ?? 'transcription failed');
      break;
    case 'response.output_item.added':
      if (event.item?.type === 'message' && event.item.role === 'assistant') {
        activeItems.add(event.item.id);
        history.assistantStarted(event.item.id);
      }
      break;
    case 'response.output_audio_transcript.delta':
    case 'response.output_text.delta':
      history.assistantDelta(event.item_id, String(event.delta ?? ''));
      break;
    case 'response.output_audio.delta':
      playDelta(event.item_id, String(event.delta ?? ''));
      break;
    case 'response.done':
      onResponseDone(event.response);
      break;
    case 'conversation.item.truncated':
      stats.truncatesConfirmed++;
      break;
    case 'error':
      stats.errors++;
      stats.lastError = event.error?.message ?? 'unknown error';
      showNotice(`Gateway: ${stats.lastError}`, 'info');
      break;
    default:
      break;
  }
}

/** @param {any} session a GA session object */
function sessionSummary(session) {
  const turnDetection = session?.audio?.input?.turn_detection;
  return {
    type: String(session?.type ?? 'realtime'),
    voice: session?.audio?.output?.voice ?? null,
    aggressiveness: turnDetection?.aggressiveness ?? null,
    endMs: turnDetection?.silence_duration_ms ?? null,
    mode: session?.speechbridge?.mode ?? null,
    targetLanguage: session?.speechbridge?.target_language ?? null,
  };
}

/**
 * @param {string} itemId
 * @param {string} base64
 */
function playDelta(itemId, base64) {
  if (!player || interruptedItems.has(itemId)) return;
  const samples = base64ToInt16(base64);
  stats.receivedSamples += samples.length;
  receivedByItem.set(itemId, (receivedByItem.get(itemId) ?? 0) + samples.length);
  lastAudioItem = itemId;
  player.push(itemId, samples);
}

/** @param {any} response */
function onResponseDone(response) {
  for (const item of response?.output ?? []) {
    if (item?.type !== 'message') continue;
    activeItems.delete(item.id);
    history.assistantDone(item.id);
    if (response.status === 'cancelled' && !truncatedItems.has(item.id)) history.note(item.id, 'cancelled');
    if (response.status === 'failed') history.note(item.id, 'failed');
  }
  if (response?.status === 'failed') showNotice(`Reply failed: ${response.status_details?.error?.message ?? 'unknown error'}`, 'info');
}

/**
 * The user spoke: stop the reply now and tell the gateway how much of it was heard, so the
 * conversation keeps only that part.
 * @param {GatewaySocket} socket
 */
async function bargeIn(socket) {
  const itemId = lastAudioItem;
  if (!player || !itemId || truncatedItems.has(itemId)) return;
  const generating = activeItems.has(itemId);
  // Marked before waiting for the worklet, so deltas arriving meanwhile are not played.
  remember(interruptedItems, itemId);
  const report = await player.stop();
  // A reply that had finished playing and generating was not interrupted.
  if (!report.wasPlaying && !generating) return;
  remember(truncatedItems, itemId);
  // The item's audio may not have started yet (queued behind another): then none of it was heard.
  const playedSamples = report.itemId === itemId ? report.itemPlayedSamples : 0;
  const audioEndMs = Math.floor((playedSamples * 1000) / SAMPLE_RATE);
  const sent = socket.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: audioEndMs });
  if (!sent) return;
  stats.truncatesSent++;
  stats.lastTruncate = { itemId, audioEndMs, receivedMs: Math.floor(((receivedByItem.get(itemId) ?? 0) * 1000) / SAMPLE_RATE) };
  history.note(itemId, `interrupted at ${(audioEndMs / 1000).toFixed(1)} s`);
}

/**
 * @param {Set<string>} set
 * @param {string} itemId
 */
function remember(set, itemId) {
  set.add(itemId);
  const oldest = set.values().next().value;
  if (set.size > MAX_REMEMBERED_ITEMS && oldest !== undefined) set.delete(oldest);
}

function resetPlayback() {
  void player?.stop();
  activeItems.clear();
  receivedByItem.clear();
  lastAudioItem = null;
}

// ── Notices ─────────────────────────────────────────────────────────────────────────────

/**
 * @param {string} text
 * @param {'error' | 'info'} [kind]
 */
function showNotice(text, kind = 'error') {
  notice.textContent = text;
  notice.dataset.kind = kind;
  notice.hidden = false;
}

function hideNotice() {
  notice.hidden = true;
  notice.textContent = '';
}

/** @param {unknown} error */
function describeMicrophoneError(error) {
  if (error instanceof DOMException) {
    if (error.name === 'NotAllowedError') return 'permission was denied. Allow the microphone for this site and press Start again.';
    if (error.name === 'NotFoundError') return 'no microphone was found.';
    if (error.name === 'NotReadableError') return 'the microphone is in use by another application.';
  }
  return error instanceof Error ? error.message : String(error);
}

// ── Read-only hook for tests and curious users ─────────────────────────────────────────

Object.defineProperty(window, 'speechbridgeDemo', {
  value: Object.freeze({
    get stats() {
      const counters = player?.counters ?? { playedSamples: 0, queuedSamples: 0, droppedSamples: 0 };
      return Object.freeze({ ...stats, ...counters, sampleRate: audioContext?.sampleRate ?? null });
    },
    get status() {
      return Object.freeze({ ...(session?.socket.status ?? { state: statusLine.dataset.state }) });
    },
  }),
  enumerable: true,
});

// ── Wiring ──────────────────────────────────────────────────────────────────────────────

restoreSettings();
showSettings();
// Wide screens have room for every setting; on a phone the conversation comes first.
moreSettings.open = matchMedia('(min-width: 760px)').matches;
form.addEventListener('input', (event) => {
  if (event.target !== tokenInput) onSettingsChanged();
});
form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!session && !microphone) void start();
});
stopButton.addEventListener('click', () => void stop('stopped'));
