/**
 * Builds one SessionEngine per realtime connection from the server's providers and the
 * configuration's session defaults: voice (DEFAULT_TTS_VOICE), LLM model (OPENAI_API_MODEL,
 * when an OpenAI-compatible LLM is configured), turn detection (VAD_ENGINE, VAD_AGGR, VAD_THRESHOLD, DEFAULT_VAD_*),
 * the interim passes (INTERIM_PASSES) and the response bounds (RESPONSE_TIMEOUT, MAX_SENTENCE_AUDIO_SECONDS, MAX_RESPONSE_AUDIO_SECONDS).
 * With DIAR_URL, sessions whose transcription asks for speaker segments get the diarizer.
 */
import type { SessionDefaults } from '../engine/session-config.ts';
import { SessionEngine } from '../engine/session-engine.ts';
import { SpeakerDiarizer } from '../providers/speaker-diarizer.ts';
import type { DoorSessionFactory } from '../protocols/door-session.ts';
import { createVoiceDetector } from '../vad/voice-detector-factory.ts';
import type { VoiceDetectorFactory } from '../vad/voice-detector.ts';
import type { Config } from './config.ts';
import type { Providers } from './providers.ts';
import type { DoorName, SessionMetrics } from './session-metrics.ts';

export interface SessionFactoryOptions {
  config: Config;
  providers: Pick<Providers, 'transcriber' | 'responder' | 'synthesizer'>;
  /** Default: the real detectors (WebRTC VAD or Silero). */
  createVoiceDetector?: VoiceDetectorFactory;
  /** The door the sessions are for, and where their metrics go. */
  metrics?: { door: DoorName; sessions: SessionMetrics };
}

export function sessionDefaultsOf(config: Config): SessionDefaults {
  return {
    ...(config.llm.engine === 'openai' && { model: config.llm.model }),
    voice: config.tts.voice,
    vad: { ...config.vad },
    interimPasses: config.asr.interimPasses,
    limits: {
      responseTimeoutMs: config.limits.responseTimeoutMs,
      maxSentenceAudioMs: config.limits.maxSentenceAudioMs,
      maxResponseAudioMs: config.limits.maxResponseAudioMs,
    },
  };
}

/** A factory every door calls once per connection; its session settings, kind and model override the defaults. */
export function createSessionFactory(options: SessionFactoryOptions): DoorSessionFactory {
  const defaults = sessionDefaultsOf(options.config);
  const { transcriber, responder, synthesizer } = options.providers;
  const { diarization, requestTimeoutMs } = options.config;
  const diarizer = diarization.url ? new SpeakerDiarizer({ url: diarization.url, token: diarization.token, timeoutMs: requestTimeoutMs }) : undefined;
  const detectors = options.createVoiceDetector ?? createVoiceDetector;
  const metrics = options.metrics;
  return ({ kind, model, session, onEvent }) => {
    const engine = new SessionEngine({
      providers: { transcriber, responder, synthesizer, ...(diarizer && { diarizer }) },
      createVoiceDetector: detectors,
      defaults,
      session: { ...session, kind, ...(model !== undefined && { model }) },
      onEvent: metrics
        ? (event) => {
            metrics.sessions.observe(metrics.door, event);
            onEvent(event);
          }
        : onEvent,
    });
    if (!metrics) return engine;
    const { door, sessions } = metrics;
    sessions.sessionsActive.inc({ door });
    let open = true;
    return {
      start: () => engine.start(),
      handle: (input) => engine.handle(input),
      finish: (options) => engine.finish(options),
      get config() {
        return engine.config;
      },
      close: () => {
        if (open) sessions.sessionsActive.dec({ door });
        open = false;
        return engine.close();
      },
    };
  };
}
