import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SentenceChunker, splitSentences } from '../../src/providers/sentences.ts';

test('sentence ends at . ! ? … and keeps abbreviations and decimals inside', () => {
  assert.deepEqual(splitSentences('Hello Mr. Smith, the price is 3.5 dollars. See e.g. the list! What? Well… fine.'), [
    'Hello Mr. Smith, the price is 3.5 dollars.',
    'See e.g. the list!',
    'What?',
    'Well…',
    'fine.',
  ]);
  assert.deepEqual(splitSentences('Dr. Who met J. R. R. Tolkien in the U.S. last year. Then i.e. nothing.'), [
    'Dr. Who met J. R. R. Tolkien in the U.S. last year.',
    'Then i.e. nothing.',
  ]);
  assert.deepEqual(splitSentences('Visit example.com today. Version 2.0.1 is out.'), ['Visit example.com today.', 'Version 2.0.1 is out.']);
});

test('closing quotes stay with their sentence; CJK terminators need no space; newline ends a sentence', () => {
  assert.deepEqual(splitSentences('He said "Stop!" Then he left.'), ['He said "Stop!"', 'Then he left.']);
  assert.deepEqual(splitSentences('你好。我很好！你呢？'), ['你好。', '我很好！', '你呢？']);
  assert.deepEqual(splitSentences('First line without a stop\nSecond line\n\n  Third'), ['First line without a stop', 'Second line', 'Third']);
});

test('streamed deltas split mid-word give each sentence as soon as it ends', () => {
  const chunker = new SentenceChunker();
  const seen: Array<[string, string[]]> = [];
  for (const delta of ['Hel', 'lo the', 're. How ar', 'e you', '? I am', ' fine', '. It costs 3', '.', '5 euros', '.']) {
    seen.push([delta, chunker.push(delta)]);
  }
  assert.deepEqual(
    seen.filter(([, out]) => out.length > 0),
    [
      ['re. How ar', ['Hello there.']],
      ['? I am', ['How are you?']],
      ['. It costs 3', ['I am fine.']],
    ],
  );
  // "3." followed later by "5": the period was not a sentence end.
  assert.equal(chunker.buffered, ' It costs 3.5 euros.');
  assert.deepEqual(chunker.flush(), ['It costs 3.5 euros.']);
  assert.deepEqual(chunker.flush(), []);
});

test('an abbreviation split across deltas does not end the sentence', () => {
  const chunker = new SentenceChunker();
  assert.deepEqual(chunker.push('Ask Mr'), []);
  assert.deepEqual(chunker.push('.'), []);
  assert.deepEqual(chunker.push(' Smith about it. Now'), ['Ask Mr. Smith about it.']);
  assert.deepEqual(chunker.flush(), ['Now']);
});

test('a long clause without a sentence end is cut at a comma, else a space, near maxChars', () => {
  const clauses = 'this clause goes on, '.repeat(20);
  const pieces = splitSentences(clauses);
  assert.ok(pieces.length >= 2, `expected several pieces, got ${pieces.length}`);
  for (const piece of pieces.slice(0, -1)) {
    assert.ok(piece.length <= 200, `piece of ${piece.length} chars`);
    assert.ok(piece.endsWith(','), `cut not at a comma: "${piece.slice(-20)}"`);
  }
  assert.equal(pieces.join(' '), clauses.trim());

  const words = 'word '.repeat(100).trim();
  const wordPieces = splitSentences(words, { maxChars: 50 });
  assert.ok(wordPieces.every((piece) => piece.length <= 50 && !piece.startsWith(' ') && piece.startsWith('word')));
  assert.equal(wordPieces.join(' '), words);

  // No space at all: a hard cut keeps the buffer bounded.
  const unbroken = 'x'.repeat(450);
  assert.deepEqual(
    splitSentences(unbroken).map((piece) => piece.length),
    [200, 200, 50],
  );
});

test('a streamed long clause is released before its end arrives', () => {
  const chunker = new SentenceChunker({ maxChars: 60 });
  const out: string[] = [];
  for (let i = 0; i < 20; i++) out.push(...chunker.push(`word${i} `));
  assert.ok(out.length >= 1, 'nothing released from a 140-character clause');
  assert.ok(chunker.buffered.length <= 60 + 8);
  out.push(...chunker.flush());
  assert.equal(out.join(' '), Array.from({ length: 20 }, (_, i) => `word${i}`).join(' '));
});
