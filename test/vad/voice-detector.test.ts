import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVoiceDetector } from '../../src/vad/voice-detector-factory.ts';

test('createVoiceDetector builds each engine with its frame size', async () => {
  const webrtc = await createVoiceDetector({ engine: 'webrtc', aggressiveness: 3 });
  assert.equal(webrtc.name, 'webrtc-vad-3');
  assert.equal(webrtc.sampleRate, 16000);
  assert.equal((webrtc.frameSamples * 1000) / webrtc.sampleRate, 20);
  assert.equal(webrtc.probability(new Int16Array(webrtc.frameSamples)), 0);
  webrtc.close?.();

  const tenMs = await createVoiceDetector({ engine: 'webrtc', frameMs: 10 });
  assert.equal((tenMs.frameSamples * 1000) / tenMs.sampleRate, 10);
  tenMs.close?.();

  const silero = await createVoiceDetector({ engine: 'silero' });
  assert.equal(silero.name, 'silero-vad-v5');
  assert.equal((silero.frameSamples * 1000) / silero.sampleRate, 32);
  const probability = silero.probability(new Int16Array(silero.frameSamples));
  assert.ok(probability >= 0 && probability < 0.1, `silence scored ${probability}`);
  silero.close?.();
});
