// @ts-nocheck -- runs in AudioWorkletGlobalScope (sampleRate, registerProcessor are globals there).
/**
 * Assistant audio playback: PCM16 chunks pushed by the page are queued and played back to
 * back at the context's rate (24 kHz, the wire's), so streamed audio has no gaps between
 * deltas. It counts the samples it actually outputs, per item, which is what a barge-in
 * reports in `conversation.item.truncate` (audio_end_ms = what the user heard).
 *
 * Messages in: { type: 'push', itemId, samples: Int16Array } and { type: 'stop', requestId }
 * (drop everything queued now). Messages out: 'progress' every ~50 ms while anything plays
 * or changes, and 'stopped' answering a stop with what of the playing item was heard.
 */

/**
 * Two minutes of audio at most waiting to play (11.5 MB of floats at 24 kHz); a push beyond
 * it is dropped and counted. A spoken reply longer than that is not a voice answer.
 */
const MAX_QUEUED_SECONDS = 120;
/** About 50 ms between progress reports at 24 kHz (128-sample render quanta). */
const REPORT_EVERY_QUANTA = 10;

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];
    this.offset = 0;
    this.queuedSamples = 0;
    this.playedSamples = 0;
    this.droppedSamples = 0;
    this.itemId = null;
    this.itemPlayedSamples = 0;
    this.quanta = 0;
    this.changed = false;
    this.maxQueued = MAX_QUEUED_SECONDS * sampleRate;
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(message) {
    if (message.type === 'push') {
      const { samples, itemId } = message;
      if (this.queuedSamples + samples.length > this.maxQueued) {
        this.droppedSamples += samples.length;
      } else {
        const floats = new Float32Array(samples.length);
        for (let index = 0; index < samples.length; index++) floats[index] = samples[index] / 0x8000;
        this.queue.push({ itemId, samples: floats });
        this.queuedSamples += samples.length;
      }
      this.changed = true;
    } else if (message.type === 'stop') {
      const playing = this.queuedSamples > 0;
      this.queue = [];
      this.offset = 0;
      this.queuedSamples = 0;
      this.port.postMessage({
        type: 'stopped',
        requestId: message.requestId,
        wasPlaying: playing,
        itemId: this.itemId,
        itemPlayedSamples: this.itemPlayedSamples,
        ...this.counters(),
      });
    }
  }

  counters() {
    return { playedSamples: this.playedSamples, queuedSamples: this.queuedSamples, droppedSamples: this.droppedSamples };
  }

  process(_inputs, outputs) {
    const output = outputs[0][0];
    let written = 0;
    while (written < output.length && this.queue.length > 0) {
      const head = this.queue[0];
      if (head.itemId !== this.itemId) {
        this.itemId = head.itemId;
        this.itemPlayedSamples = 0;
      }
      const count = Math.min(output.length - written, head.samples.length - this.offset);
      output.set(head.samples.subarray(this.offset, this.offset + count), written);
      written += count;
      this.offset += count;
      this.itemPlayedSamples += count;
      this.playedSamples += count;
      this.queuedSamples -= count;
      if (this.offset >= head.samples.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    output.fill(0, written);
    if (written > 0) this.changed = true;
    if (++this.quanta >= REPORT_EVERY_QUANTA && this.changed) {
      this.quanta = 0;
      this.changed = false;
      this.port.postMessage({ type: 'progress', itemId: this.itemId, itemPlayedSamples: this.itemPlayedSamples, ...this.counters() });
    }
    return true;
  }
}

registerProcessor('speechbridge-playback', PlaybackProcessor);
