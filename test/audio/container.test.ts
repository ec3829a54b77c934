import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sniffContainer, SNIFF_BYTES } from '../../src/audio/container.ts';
import { writeWav } from '../../src/audio/wav.ts';
import { makeFixtures, type Fixtures, type FixtureName } from './encoded-fixtures.ts';

let fixtures: Promise<Fixtures> | undefined;
/** Made on first use, so each test fails with ffmpeg's install hint when it is missing. */
function getFixtures(): Promise<Fixtures> {
  fixtures ??= makeFixtures('en_ls_1089-134691-0000.wav');
  return fixtures;
}

after(async () => {
  if (fixtures) await (await fixtures).remove();
});

describe('sniffContainer', () => {
  const expectations: Array<[FixtureName, ReturnType<typeof sniffContainer>]> = [
    ['webm-opus', 'webm'],
    ['ogg-opus', 'ogg'],
    ['mp3', 'mp3'],
    ['mp3-bare', 'mp3'],
    ['flac', 'flac'],
    ['m4a', 'mp4'],
    ['wav-24bit-stereo', 'wav'],
    ['wav-mulaw', 'wav'],
    ['aac-adts', 'unknown'],
  ];

  for (const [fixture, container] of expectations) {
    test(`a ${fixture} file made by ffmpeg sniffs as ${container} from its first ${SNIFF_BYTES} bytes`, async () => {
      const bytes = await (await getFixtures()).bytes(fixture);
      assert.equal(sniffContainer(bytes.subarray(0, SNIFF_BYTES)), container);
      assert.equal(sniffContainer(bytes), container);
    });
  }

  test('the bare MP3 really starts with a frame sync, and the tagged one with ID3', async () => {
    const loaded = await getFixtures();
    const bare = await loaded.bytes('mp3-bare');
    const tagged = await loaded.bytes('mp3');
    assert.equal(bare[0], 0xff);
    assert.equal(tagged.subarray(0, 3).toString('latin1'), 'ID3');
  });

  test('a WAV written by writeWav is wav', () => {
    assert.equal(sniffContainer(writeWav({ samples: new Int16Array(4), sampleRate: 16000 })), 'wav');
  });

  test('text, JSON, short and empty inputs are unknown', () => {
    for (const text of ['hello world, not audio', '{"type":"input_audio_buffer.append"}', 'RIFF', 'Og', '']) {
      assert.equal(sniffContainer(Buffer.from(text)), 'unknown', JSON.stringify(text));
    }
    // RIFF with another form type (AVI) is not WAV.
    assert.equal(sniffContainer(Buffer.from('RIFF\x10\x00\x00\x00AVI LIST', 'latin1')), 'unknown');
    // A sync word with the reserved MPEG version bits is not an MP3 frame.
    assert.equal(sniffContainer(new Uint8Array([0xff, 0xea, 0x90, 0x00])), 'unknown');
  });
});
