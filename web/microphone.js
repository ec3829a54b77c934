// @ts-check
/**
 * The microphone: getUserMedia into the capture worklet, which hands back 40 ms chunks of
 * PCM16 at 24 kHz with their level.
 *
 * The capture runs in the page's 24 kHz AudioContext, so the browser resamples the device.
 * Firefox refuses to connect a microphone to a context at another rate than the device's
 * (NotSupportedError); there it gets a context at the device rate and the worklet resamples.
 */

/** @typedef {{ samples: Int16Array, rms: number, peak: number }} CaptureChunk */

export class Microphone {
  /**
   * @param {MediaStream} stream
   * @param {AudioContext} context
   * @param {boolean} ownsContext
   * @param {MediaStreamAudioSourceNode} source
   * @param {AudioWorkletNode} node
   */
  constructor(stream, context, ownsContext, source, node) {
    this.stream = stream;
    this.context = context;
    this.ownsContext = ownsContext;
    this.source = source;
    this.node = node;
  }

  /**
   * @param {AudioContext} context the page's 24 kHz context
   * @param {(chunk: CaptureChunk) => void} onChunk
   */
  static async open(context, onChunk) {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error('this browser gives no microphone access here: open the page over https (or on localhost)');
    }
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    try {
      let captureContext = context;
      let source;
      try {
        source = context.createMediaStreamSource(stream);
      } catch (error) {
        if (!(error instanceof DOMException) || error.name !== 'NotSupportedError') throw error;
        captureContext = new AudioContext();
        source = captureContext.createMediaStreamSource(stream);
      }
      await captureContext.audioWorklet.addModule(new URL('./capture-worklet.js', import.meta.url));
      const node = new AudioWorkletNode(captureContext, 'speechbridge-capture', {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        processorOptions: { targetRate: context.sampleRate },
      });
      node.port.onmessage = (event) => {
        if (event.data?.type === 'chunk') onChunk(event.data);
      };
      source.connect(node);
      // The node outputs silence; connecting it keeps the graph pulling it in every browser.
      node.connect(captureContext.destination);
      if (captureContext.state === 'suspended') await captureContext.resume();
      return new Microphone(stream, captureContext, captureContext !== context, source, node);
    } catch (error) {
      for (const track of stream.getTracks()) track.stop();
      throw error;
    }
  }

  get label() {
    return this.stream.getAudioTracks()[0]?.label ?? 'microphone';
  }

  async close() {
    for (const track of this.stream.getTracks()) track.stop();
    this.node.port.onmessage = null;
    this.source.disconnect();
    this.node.disconnect();
    if (this.ownsContext) await this.context.close();
  }
}
