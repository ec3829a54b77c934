/**
 * Speaker segments: the diarizer's turns cut the recognizer's words into one segment per run
 * of one speaker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { speakerSegments } from '../../src/engine/speaker-segments.ts';
import { speakerTurnsOf } from '../../src/providers/speaker-diarizer.ts';

const turns = [
  { speaker: 'A', startMs: 0, endMs: 1000 },
  { speaker: 'B', startMs: 1200, endMs: 2000 },
];

test('timed recognizer segments go to the speaker whose turn holds their words', () => {
  const segments = speakerSegments(turns, 'ignored', [
    { startMs: 0, endMs: 900, text: 'good morning' },
    { startMs: 1300, endMs: 1900, text: 'hello there friend' },
  ]);
  assert.deepEqual(segments, [
    { speaker: 'A', startMs: 0, endMs: 900, text: 'good morning' },
    { speaker: 'B', startMs: 1300, endMs: 1900, text: 'hello there friend' },
  ]);
});

test('text without timestamps is spread over the speech; a word between turns goes to the nearest', () => {
  const segments = speakerSegments(turns, 'one two three four five', []);
  assert.deepEqual(
    segments.map((segment) => [segment.speaker, segment.text]),
    [
      ['A', 'one two three'],
      ['B', 'four five'],
    ],
  );
  assert.deepEqual([segments[0].startMs, segments.at(-1)!.endMs], [0, 2000]);
});

test('no speaker turns, or no words, give no segments', () => {
  assert.deepEqual(speakerSegments([], 'words', []), []);
  assert.deepEqual(speakerSegments(turns, '', []), []);
});

test('diarization answers are read in the usual shapes; entries without times or speaker are skipped', () => {
  const expected = [{ speaker: 'SPEAKER_00', startMs: 500, endMs: 1250 }];
  assert.deepEqual(speakerTurnsOf({ segments: [{ start: 0.5, end: 1.25, speaker: 'SPEAKER_00' }, { start: 'x' }] }, 'u'), expected);
  assert.deepEqual(speakerTurnsOf({ diarization: [{ start: 0.5, end: 1.25, label: 'SPEAKER_00' }] }, 'u'), expected);
  assert.deepEqual(
    speakerTurnsOf(
      [
        { start: 0.5, end: 1.25, speaker: 'SPEAKER_00' },
        { start: 2, end: 1, speaker: 'X' },
      ],
      'u',
    ),
    expected,
  );
  assert.throws(() => speakerTurnsOf({ text: 'no list' }, 'http://diarizer'), { code: 'upstream_bad_response' });
});
