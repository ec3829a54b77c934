// @ts-nocheck -- runs in AudioWorkletGlobalScope (sampleRate, registerProcessor are globals there).
/**
 * Microphone capture: takes the input at the context's rate, converts it to mono PCM16 at
 * the wire's rate (24 kHz) and posts it in 40 ms chunks, each with its level (RMS and peak)
 * for the page's meter.
 *
 * The page normally runs this in a 24 kHz AudioContext (the browser resamples the device),
 * so no resampling happens here. Where a browser cannot feed a microphone into a context
 * at another rate than the device's (Firefox), the page runs it at the device rate and this
 * resamples with a windowed-sinc low-pass, so 48 kHz input does not alias into 24 kHz.
 */

/** 40 ms: 25 messages a second, and a turn's end is never more than one chunk late. */
const CHUNK_MS = 40;

/** Kernel zero crossings each side of the centre, and kernel table entries per input sample. */
const ZERO_CROSSINGS = 16;
const TABLE_STEPS = 256;

/**
 * Band-limited resampling by windowed-sinc interpolation: each output sample is the input
 * convolved with a Blackman-windowed sinc, read from a table (linear interpolation between
 * 1/256-sample steps). The cutoff sits at 85 % of the lower Nyquist frequency: Blackman's
 * transition band (about 5.5 / kernel length) then ends at that Nyquist, so what would alias
 * is attenuated by about 74 dB. For 48 → 24 kHz: flat to ~8.5 kHz, 76 taps.
 */
class SincResampler {
  constructor(inputRate, outputRate) {
    this.step = inputRate / outputRate;
    this.cutoff = 0.5 * Math.min(1, outputRate / inputRate) * 0.85;
    this.halfWidth = Math.ceil(ZERO_CROSSINGS / (2 * this.cutoff));
    this.table = new Float32Array(this.halfWidth * TABLE_STEPS + 2);
    for (let index = 0; index < this.table.length; index++) this.table[index] = this.exactKernel(index / TABLE_STEPS);
    this.pending = new Float32Array(0);
    this.position = 0;
  }

  exactKernel(distance) {
    if (distance >= this.halfWidth) return 0;
    const phase = 2 * this.cutoff * distance;
    const sinc = phase === 0 ? 1 : Math.sin(Math.PI * phase) / (Math.PI * phase);
    const angle = (Math.PI * distance) / this.halfWidth;
    const blackman = 0.42 + 0.5 * Math.cos(angle) + 0.08 * Math.cos(2 * angle);
    return 2 * this.cutoff * sinc * blackman;
  }

  kernel(distance) {
    const scaled = Math.abs(distance) * TABLE_STEPS;
    const index = Math.floor(scaled);
    if (index >= this.table.length - 1) return 0;
    const fraction = scaled - index;
    return this.table[index] + fraction * (this.table[index + 1] - this.table[index]);
  }

  /** Resamples the next block; returns the output samples it completes. */
  process(block) {
    const input = new Float32Array(this.pending.length + block.length);
    input.set(this.pending);
    input.set(block, this.pending.length);
    const output = [];
    while (this.position + this.halfWidth < input.length) {
      const center = Math.floor(this.position);
      let sum = 0;
      for (let index = Math.max(0, center - this.halfWidth + 1); index <= center + this.halfWidth; index++) {
        sum += input[index] * this.kernel(this.position - index);
      }
      output.push(sum);
      this.position += this.step;
    }
    // Keeps one kernel's width of history before the next output position.
    const drop = Math.max(0, Math.floor(this.position) - this.halfWidth);
    this.pending = input.slice(drop);
    this.position -= drop;
    return output;
  }
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const targetRate = options?.processorOptions?.targetRate ?? 24000;
    this.chunk = new Int16Array(Math.round((targetRate * CHUNK_MS) / 1000));
    this.filled = 0;
    this.sumSquares = 0;
    this.peak = 0;
    this.resampler = sampleRate === targetRate ? null : new SincResampler(sampleRate, targetRate);
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    let mono = channels[0];
    if (channels.length > 1) {
      mono = new Float32Array(channels[0].length);
      for (const channel of channels) for (let index = 0; index < mono.length; index++) mono[index] += channel[index] / channels.length;
    }
    const samples = this.resampler ? this.resampler.process(mono) : mono;
    for (let index = 0; index < samples.length; index++) this.append(samples[index]);
    return true;
  }

  append(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.sumSquares += clamped * clamped;
    this.peak = Math.max(this.peak, Math.abs(clamped));
    this.chunk[this.filled++] = clamped < 0 ? Math.round(clamped * 0x8000) : Math.round(clamped * 0x7fff);
    if (this.filled < this.chunk.length) return;
    const rms = Math.sqrt(this.sumSquares / this.chunk.length);
    const samples = this.chunk;
    // A fresh chunk before the transfer: the sent one's buffer is detached (length 0) after it.
    this.chunk = new Int16Array(samples.length);
    this.port.postMessage({ type: 'chunk', samples, rms, peak: this.peak }, [samples.buffer]);
    this.filled = 0;
    this.sumSquares = 0;
    this.peak = 0;
  }
}

registerProcessor('speechbridge-capture', CaptureProcessor);
