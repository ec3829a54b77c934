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
 * - Push to talk: `turn_detection: null`; audio is sent only while the button is held, and
 *   releasing it commits the turn (`input_audio_buffer.commit`, then `response.create`).
 * - Typed messages: `conversation.item.create` with `input_text`, then `response.create`.
 *
 * Barge-in: when the gateway reports `input_audio_buffer.speech_started` (or the talk button is
 * pressed), playback stops at once and `conversation.item.truncate` tells it how much of the
 * reply was heard.
 *
 * The session asks for `speechbridge.turn.timings` (the gateway's own stage timings of each
 * answered turn) and shows them as the latency line; `GET /` names the engines in use.
 */
import { EventLog } from './event-log.js';
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

/** A push-to-talk turn shorter than this (3 appends of 40 ms) holds too little audio to commit: the gateway needs 100 ms. */
const MIN_TALK_CHUNKS = 3;

/** @typedef {'transcribe' | 'assistant' | 'translate' | 'echo'} Mode */
/** @typedef {{ mode: Mode, language: string, voice: string, aggressiveness: number, endMs: number, pushToTalk: boolean }} Settings */

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
const talkButton = /** @type {HTMLButtonElement} */ ($('talk'));
const pushToTalkInput = /** @type {HTMLInputElement} */ ($('push-to-talk'));
const composeForm = /** @type {HTMLFormElement} */ ($('compose'));
const messageInput = /** @type {HTMLInputElement} */ ($('message'));
const sendButton = /** @type {HTMLButtonElement} */ ($('send'));
const latencyLine = $('latency');
const history = new History(/** @type {HTMLOListElement} */ ($('history')), $('partial'));
const eventLog = new EventLog(/** @type {HTMLOListElement} */ ($('events')), $('event-count'));

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
  typedMessages: 0,
  /** Push-to-talk turns committed on release. */
  talkTurns: 0,
  /** @type {{ itemId: string | null, responseId: string, transcriptionMs: number | null, firstTokenMs: number | null, firstAudioMs: number | null, totalMs: number | null } | null} */
  lastTimings: null,
  /**
   * The session as the gateway last reported it (session.created / session.updated).
   * @type {{ type: string, turnDetection: string | null, voice: string | null, aggressiveness: number | null, endMs: number | null, mode: string | null, targetLanguage: string | null } | null}
   */
  session: null,
};

/**
 * What runs while the page is started. `spoke`: the gateway's session has sent audio, after
 * which it keeps its voice (as OpenAI's does), so a new voice takes a new session.
 * @type {{ socket: GatewaySocket, kind: 'transcription' | 'conversation', spoke: boolean } | null}
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
/** Assistant item of each response, for its turn timings. */
const itemOfResponse = new Map();
/** @type {{ chunks: number } | null} A push-to-talk turn being spoken: the button is held. */
let talking = null;

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
    pushToTalk: data.get('pushToTalk') === 'on',
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
    } else if (control instanceof HTMLInputElement && control.type === 'checkbox') {
      control.checked = value === true;
    } else if (control instanceof HTMLInputElement || control instanceof HTMLSelectElement) {
      control.value = String(value);
    }
  };
  for (const name of ['mode', 'language', 'voice', 'aggressiveness', 'endMs', 'pushToTalk']) set(name, saved[name]);
}

function showSettings() {
  const settings = readSettings();
  $('language-field').hidden = settings.mode !== 'translate';
  $('voice-field').hidden = settings.mode === 'transcribe';
  $('aggressiveness-value').textContent = String(settings.aggressiveness);
  $('end-ms-value').textContent = `${settings.endMs} ms`;
  talkButton.hidden = !settings.pushToTalk;
  showControls();
}

/** The talk button and the message box work only in a live session that can use them. */
function showControls() {
  const live = session?.socket.status.state === 'live';
  const settings = readSettings();
  talkButton.disabled = !live || !settings.pushToTalk;
  const canType = live && session?.kind === 'conversation';
  messageInput.disabled = !canType;
  sendButton.disabled = !canType;
  messageInput.placeholder = canType ? 'Type a message…' : session?.kind === 'transcription' ? 'Transcribe only: nothing to answer a message' : 'Start a session to type a message';
}

/**
 * The session.update for the settings, in the GA shape.
 * @param {Settings} settings
 */
function sessionUpdate(settings) {
  const mode = MODES[settings.mode];
  // null: no speech detection, the client commits each turn (push to talk).
  const turnDetection = settings.pushToTalk ? null : { type: 'server_vad', aggressiveness: settings.aggressiveness, end_ms: settings.endMs };
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
      speechbridge: {
        mode: mode.responder,
        interim_transcripts: true,
        turn_timings: true,
        ...(mode.responder === 'translate' && { target_language: settings.language }),
      },
    },
  };
}

/**
 * Sends one client event and logs it; false when the socket is not open.
 * @param {GatewaySocket} socket
 * @param {{ type: string } & Record<string, unknown>} event
 */
function send(socket, event) {
  const sent = socket.send(event);
  if (sent) eventLog.add('sent', event);
  return sent;
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
  // A transcription session and a conversation are different sessions, and a session that has spoken keeps its voice: either change reconnects.
  const newVoice = session.spoke && stats.session !== null && stats.session.voice !== settings.voice;
  if (MODES[settings.mode].kind !== session.kind || newVoice) {
    session.socket.stop(newVoice ? 'switching voice' : 'switching mode');
    session = null;
    resetPlayback();
    connect();
  } else {
    if (!settings.pushToTalk) endTalk(false);
    send(session.socket, sessionUpdate(settings));
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
      // A new connection is a new gateway session, which has not spoken yet.
      if (session?.socket === socket) session.spoke = false;
      send(socket, sessionUpdate(readSettings()));
    },
    onEvent: (event) => onServerEvent(socket, event),
  });
  session = { socket, kind, spoke: false };
  socket.start();
}

/**
 * Ends the session and leaves the page closed and quiet: status closed, microphone off, no
 * playback, nothing in the history still saying it is coming.
 * @param {string} reason
 */
async function stop(reason) {
  const current = session;
  session = null;
  talking = null;
  setTalkPressed(false);
  current?.socket.stop(reason);
  showStatus({ state: 'closed', reason, fatal: false });
  await closeMicrophone();
  resetPlayback();
  history.settleAll();
  history.idleText = 'Stopped. Press Start to talk again.';
  history.setPartial('idle');
  startButton.disabled = false;
  stopButton.disabled = true;
  showControls();
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
  showControls();
  if (status.state === 'reconnecting') {
    resetPlayback();
    endTalk(false);
    history.settleAll();
  }
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
      statusLine.textContent = status.reason === 'stopped' ? 'Stopped' : `Closed: ${status.reason}`;
      break;
  }
}

// ── Audio in ────────────────────────────────────────────────────────────────────────────

/** @param {import('./microphone.js').CaptureChunk} chunk */
function onMicrophoneChunk(chunk) {
  showLevel(chunk.rms);
  const socket = session?.socket;
  // Audio is sent only into a live session; while (re)connecting it is dropped, not queued.
  // Push to talk: only what is said while the button is held goes out.
  if (pushToTalkInput.checked && !talking) return;
  if (!socket || socket.status.state !== 'live' || socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    stats.audioChunksDropped++;
    return;
  }
  if (send(socket, { type: 'input_audio_buffer.append', audio: int16ToBase64(chunk.samples) })) {
    stats.audioChunksSent++;
    if (talking) talking.chunks++;
  } else {
    stats.audioChunksDropped++;
  }
}

// ── Push to talk ────────────────────────────────────────────────────────────────────────

function beginTalk() {
  const socket = session?.socket;
  if (!socket || socket.status.state !== 'live' || talking || !pushToTalkInput.checked) return;
  talking = { chunks: 0 };
  setTalkPressed(true);
  // Anything left in the buffer is not part of this turn; a reply still running is spoken over.
  send(socket, { type: 'input_audio_buffer.clear' });
  if (activeItems.size > 0) send(socket, { type: 'response.cancel' });
  void bargeIn(socket);
  history.setPartial('listening');
}

/** @param {boolean} commit false: the turn is dropped (the session ended, push to talk was turned off). */
function endTalk(commit) {
  const turn = talking;
  talking = null;
  setTalkPressed(false);
  const current = session;
  if (!turn || !current || !commit) return;
  if (turn.chunks < MIN_TALK_CHUNKS) {
    send(current.socket, { type: 'input_audio_buffer.clear' });
    history.setPartial('idle');
    showNotice('Hold the button while you speak; release it when you are done.', 'info');
    return;
  }
  send(current.socket, { type: 'input_audio_buffer.commit' });
  // With speech detection off nothing answers a commit on its own.
  if (current.kind === 'conversation') send(current.socket, { type: 'response.create' });
  stats.talkTurns++;
  history.setPartial('transcribing');
}

/** @param {boolean} pressed */
function setTalkPressed(pressed) {
  talkButton.setAttribute('aria-pressed', String(pressed));
  talkButton.textContent = pressed ? 'Release to send' : 'Hold to talk';
}

// ── Typed messages ──────────────────────────────────────────────────────────────────────

/** @param {string} text */
function sendMessage(text) {
  const current = session;
  if (!current || current.kind !== 'conversation' || current.socket.status.state !== 'live') return;
  // A reply still running is cut off, as when the user speaks over it.
  if (activeItems.size > 0) {
    void bargeIn(current.socket);
    send(current.socket, { type: 'response.cancel' });
  }
  send(current.socket, { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } });
  send(current.socket, { type: 'response.create' });
  stats.typedMessages++;
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
  eventLog.add('received', event);
  switch (event.type) {
    case 'session.updated':
      stats.session = sessionSummary(event.session);
      break;
    case 'session.created':
      stats.session = sessionSummary(event.session);
      stats.sessionsCreated++;
      socket.markLive();
      hideNotice();
      history.idleText = readSettings().pushToTalk ? 'Hold the talk button and speak.' : 'Waiting for you to speak.';
      history.setPartial('idle');
      showControls();
      break;
    case 'conversation.item.added': {
      const item = event.item;
      const typed = item?.type === 'message' && item.role === 'user' ? item.content?.find((/** @type {any} */ part) => part?.type === 'input_text') : undefined;
      if (typed) history.userTyped(item.id, String(typed.text ?? ''));
      break;
    }
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
        itemOfResponse.set(event.response_id, event.item.id);
        history.assistantStarted(event.item.id);
      }
      break;
    case 'speechbridge.turn.timings':
      showTimings(event);
      break;
    case 'response.output_audio_transcript.delta':
    case 'response.output_text.delta':
      history.assistantDelta(event.item_id, String(event.delta ?? ''));
      break;
    case 'response.output_audio.delta':
      if (session) session.spoke = true;
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
    turnDetection: turnDetection?.type ?? null,
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
  itemOfResponse.delete(response?.id);
}

/**
 * The gateway's own timings of the turn just answered: speech end → transcript → first token
 * → first audio. A typed message has no speech end and no transcript.
 * @param {Record<string, any>} event
 */
function showTimings(event) {
  const ms = (/** @type {unknown} */ value) => (typeof value === 'number' ? value : null);
  const timings = {
    itemId: typeof event.item_id === 'string' ? event.item_id : null,
    responseId: String(event.response_id ?? ''),
    transcriptionMs: ms(event.transcription_ms),
    firstTokenMs: ms(event.first_token_ms),
    firstAudioMs: ms(event.first_audio_ms),
    totalMs: ms(event.total_ms),
  };
  stats.lastTimings = timings;
  const stages = [
    timings.transcriptionMs !== null ? `speech end → transcript ${timings.transcriptionMs} ms` : 'typed',
    timings.firstTokenMs !== null ? `first token ${timings.firstTokenMs} ms` : null,
    timings.firstAudioMs !== null ? `first audio ${timings.firstAudioMs} ms` : null,
  ].filter(Boolean);
  const text = `${stages.join(' → ')}${timings.totalMs !== null ? ` (${timings.totalMs} ms in all)` : ''}`;
  latencyLine.textContent = `Last turn: ${text}`;
  latencyLine.hidden = false;
  const itemId = itemOfResponse.get(timings.responseId);
  if (itemId) history.latency(itemId, text);
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
  const sent = send(socket, { type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: audioEndMs });
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
  itemOfResponse.clear();
  lastAudioItem = null;
}

// ── Engines ─────────────────────────────────────────────────────────────────────────────

/** `GET /` names the engines the gateway runs on; the offline fallback says why it runs. */
async function showEngines() {
  const line = $('engines');
  const fallback = $('fallback');
  try {
    const response = await fetch(new URL('/', location.href), { headers: { accept: 'application/json' }, cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { engines } = await response.json();
    const named = (/** @type {any} */ engine, /** @type {string} */ extra = '') => {
      const details = [engine?.model, extra].filter(Boolean).join(', ');
      return `${engine?.engine ?? 'unknown'}${details ? ` (${details})` : ''}`;
    };
    line.textContent =
      `Engines: speech recognition ${named(engines?.transcriber)} · LLM ${named(engines?.responder)} · ` +
      `speech ${named(engines?.synthesizer, engines?.synthesizer?.voice ? `voice ${engines.synthesizer.voice}` : '')} · VAD ${engines?.vad?.engine ?? 'unknown'}`;
    line.dataset.state = 'ready';
    const reason = engines?.transcriber?.fallback;
    if (reason) {
      fallback.textContent =
        `Offline fallback: ${engines.transcriber.engine} is transcribing instead of ${reason.from}, because ${reason.reason}. ` +
        'Expect rough transcripts; put the model in the model cache or set WHISPER_URL for better ones.';
      fallback.hidden = false;
    }
  } catch (error) {
    line.textContent = `Engines: unknown (GET / failed: ${error instanceof Error ? error.message : String(error)})`;
    line.dataset.state = 'failed';
  }
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
    get eventsLogged() {
      return eventLog.total;
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

talkButton.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return;
  talkButton.setPointerCapture(event.pointerId);
  beginTalk();
});
talkButton.addEventListener('pointerup', () => endTalk(true));
talkButton.addEventListener('pointercancel', () => endTalk(true));
talkButton.addEventListener('lostpointercapture', () => endTalk(true));
talkButton.addEventListener('keydown', (event) => {
  if (event.key !== ' ' && event.key !== 'Enter') return;
  event.preventDefault();
  if (!event.repeat) beginTalk();
});
talkButton.addEventListener('keyup', (event) => {
  if (event.key !== ' ' && event.key !== 'Enter') return;
  event.preventDefault();
  endTalk(true);
});
talkButton.addEventListener('blur', () => endTalk(true));
// A long press must not open the context menu on touch screens.
talkButton.addEventListener('contextmenu', (event) => event.preventDefault());

composeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = messageInput.value.trim();
  if (!text) return;
  sendMessage(text);
  messageInput.value = '';
});

void showEngines();
