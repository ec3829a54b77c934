/**
 * What the stream and listen commands print: each client event as it arrives (a readable line,
 * or one JSON object per line with --json), and the closing summary. Transcripts and replies
 * go to stdout; errors to stderr (and, with --json, to stdout as `error` events too).
 */
import type { ClientEvent } from './speech-client.ts';

/** Transcripts kept for the summary: the first 1000 turns (a long session lists those and counts the rest). */
const MAX_TRANSCRIPTS_KEPT = 1000;

export interface SessionSummary {
  turns: number;
  transcripts: string[];
  replies: number;
  replyAudioSeconds: number;
  errors: number;
}

export interface ReportOptions {
  json: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Partial transcripts rewrite one line in place (a terminal) instead of one line each. */
  inPlace: boolean;
}

export class SessionReport {
  private turns = 0;
  private readonly transcripts: string[] = [];
  private replies = 0;
  private replySamples = 0;
  private replyRate = 24_000;
  private replyAudioSeconds = 0;
  private errors = 0;
  private partialShown = false;

  constructor(private readonly options: ReportOptions) {}

  /** Prints one event and counts it. */
  record(event: ClientEvent): void {
    switch (event.type) {
      case 'ready':
        this.print({ type: 'ready', session: event.session }, `connected (session ${event.session})`);
        return;
      case 'transcript.partial':
        if (this.options.json) this.line({ type: 'transcript.partial', turn: event.turn, text: event.text });
        else if (this.options.inPlace) {
          this.options.out.write(`\r\x1b[K… ${event.text}`);
          this.partialShown = true;
        } else this.options.out.write(`… ${event.text}\n`);
        return;
      case 'transcript.final':
        this.turns++;
        if (this.transcripts.length < MAX_TRANSCRIPTS_KEPT) this.transcripts.push(event.text);
        this.print({ type: 'transcript.final', turn: event.turn, text: event.text }, `you: ${event.text}`);
        return;
      case 'reply.text':
        this.print({ type: 'reply.text', text: event.text }, `reply: ${event.text}`);
        return;
      case 'reply.audio':
        this.replySamples += event.samples.length;
        this.replyRate = event.sampleRate;
        this.replyAudioSeconds += event.samples.length / event.sampleRate;
        if (this.options.json) this.line({ type: 'reply.audio', samples: event.samples.length, sample_rate: event.sampleRate });
        return;
      case 'reply.done': {
        this.replies++;
        const seconds = this.replySamples / this.replyRate;
        this.replySamples = 0;
        this.print({ type: 'reply.done', audio_seconds: round(seconds) }, `(reply audio ${seconds.toFixed(2)} s)`);
        return;
      }
      case 'error':
        this.errors++;
        this.clearPartial();
        if (this.options.json) this.line({ type: 'error', message: event.message, ...(event.code && { code: event.code }) });
        this.options.err.write(`speechbridge: server error: ${event.message}\n`);
        return;
      case 'closed':
        if (this.options.json) this.line({ type: 'closed', code: event.code, reason: event.reason });
        return;
    }
  }

  /** A note from the command itself (stderr; with --json also a `notice` event on stdout). */
  notice(message: string): void {
    this.clearPartial();
    if (this.options.json) this.line({ type: 'notice', message });
    this.options.err.write(`speechbridge: ${message}\n`);
  }

  summary(): SessionSummary {
    return {
      turns: this.turns,
      transcripts: [...this.transcripts],
      replies: this.replies,
      replyAudioSeconds: round(this.replyAudioSeconds),
      errors: this.errors,
    };
  }

  /** Prints the closing summary; `extra` adds fields (the reply WAV path, the end reason). */
  printSummary(extra: { replyFile?: string; ended: string }): void {
    const summary = this.summary();
    if (this.options.json) {
      this.line({
        type: 'summary',
        turns: summary.turns,
        transcripts: summary.transcripts,
        replies: summary.replies,
        reply_audio_seconds: summary.replyAudioSeconds,
        errors: summary.errors,
        ended: extra.ended,
        ...(extra.replyFile && { reply_file: extra.replyFile }),
      });
      return;
    }
    this.clearPartial();
    const lines = [
      `summary (${extra.ended}): ${summary.turns} ${summary.turns === 1 ? 'turn' : 'turns'}, ${summary.replies} ${summary.replies === 1 ? 'reply' : 'replies'}, ` +
        `${this.replyAudioSeconds.toFixed(2)} s of reply audio${extra.replyFile ? ` → ${extra.replyFile}` : ''}, ${summary.errors} ${summary.errors === 1 ? 'error' : 'errors'}`,
      ...summary.transcripts.map((text, index) => `  ${index + 1}. ${text}`),
    ];
    this.options.out.write(`${lines.join('\n')}\n`);
  }

  private print(json: Record<string, unknown>, text: string): void {
    if (this.options.json) {
      this.line(json);
      return;
    }
    this.clearPartial();
    this.options.out.write(`${text}\n`);
  }

  private clearPartial(): void {
    if (!this.partialShown) return;
    this.options.out.write('\r\x1b[K');
    this.partialShown = false;
  }

  private line(event: Record<string, unknown>): void {
    this.options.out.write(`${JSON.stringify(event)}\n`);
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
