// @ts-check
/**
 * The page's side of the playback worklet: pushes assistant audio to it, stops it at once on
 * barge-in, and keeps the worklet's latest counters (samples played, queued, dropped).
 */

/**
 * @typedef {{ playedSamples: number, queuedSamples: number, droppedSamples: number }} PlaybackCounters
 * @typedef {PlaybackCounters & { wasPlaying: boolean, itemId: string | null, itemPlayedSamples: number }} StopReport
 */

export class Player {
  /**
   * @param {AudioContext} context
   * @param {AudioWorkletNode} node
   */
  constructor(context, node) {
    this.context = context;
    this.node = node;
    /** @type {PlaybackCounters} */
    this.counters = { playedSamples: 0, queuedSamples: 0, droppedSamples: 0 };
    /** Samples pushed, counted here so the page knows what it sent before the worklet answers. */
    this.pushedSamples = 0;
    /** @type {Map<number, (report: StopReport) => void>} */
    this.stopWaiters = new Map();
    this.nextRequestId = 1;
    node.port.onmessage = (event) => this.onMessage(event.data);
  }

  /** @param {AudioContext} context */
  static async create(context) {
    await context.audioWorklet.addModule(new URL('./playback-worklet.js', import.meta.url));
    const node = new AudioWorkletNode(context, 'speechbridge-playback', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
    node.connect(context.destination);
    return new Player(context, node);
  }

  get sampleRate() {
    return this.context.sampleRate;
  }

  /**
   * @param {string} itemId
   * @param {Int16Array} samples PCM16 at the context's rate (24 kHz).
   */
  push(itemId, samples) {
    this.pushedSamples += samples.length;
    this.node.port.postMessage({ type: 'push', itemId, samples }, [samples.buffer]);
  }

  /**
   * Drops everything queued and resolves with what of the playing item was heard.
   * @returns {Promise<StopReport>}
   */
  stop() {
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      this.stopWaiters.set(requestId, resolve);
      this.node.port.postMessage({ type: 'stop', requestId });
    });
  }

  /** @param {any} message */
  onMessage(message) {
    this.counters = { playedSamples: message.playedSamples, queuedSamples: message.queuedSamples, droppedSamples: message.droppedSamples };
    if (message.type !== 'stopped') return;
    const resolve = this.stopWaiters.get(message.requestId);
    this.stopWaiters.delete(message.requestId);
    resolve?.(message);
  }
}
