// @ts-check
/**
 * The conversation view: the live line (what is being heard right now) and the history of
 * final transcripts and assistant replies, each with its time, keyed by the item ids the
 * gateway gives them.
 */

/** Entries kept on the page; older ones are removed so a long session stays light. */
const MAX_ENTRIES = 200;

/** @typedef {'idle' | 'listening' | 'transcribing' | 'text'} PartialState */

export class History {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLElement} partial
   */
  constructor(list, partial) {
    this.list = list;
    this.partial = partial;
    /** @type {Map<string, HTMLLIElement>} */
    this.entries = new Map();
    /** @type {Map<string, string>} Partial transcript text by user item. */
    this.partialText = new Map();
    /** What the live line says while nobody speaks. */
    this.idleText = partial.textContent ?? '';
  }

  /**
   * @param {PartialState} state
   * @param {string} [text]
   */
  setPartial(state, text) {
    const shown = { idle: this.idleText, listening: 'listening…', transcribing: 'transcribing…', text: text ?? '' }[state];
    this.partial.dataset.state = state;
    this.partial.textContent = shown;
  }

  /**
   * A transcription delta (from an engine that streams partial text) for the turn being spoken.
   * @param {string} itemId
   * @param {string} delta
   */
  partialDelta(itemId, delta) {
    const text = (this.partialText.get(itemId) ?? '') + delta;
    this.partialText.set(itemId, text);
    this.setPartial('text', text);
  }

  /**
   * The whole text so far of the turn being spoken (the gateway's interim transcript); a later
   * one may revise it.
   * @param {string} itemId
   * @param {string} text
   */
  partialWhole(itemId, text) {
    this.partialText.set(itemId, text);
    this.setPartial('text', text);
  }

  /**
   * A committed user turn: its place in the history, filled when its transcript arrives.
   * @param {string} itemId
   */
  userPending(itemId) {
    const entry = this.entry(itemId, 'user');
    if (entry.dataset.state === 'final') return;
    entry.dataset.state = 'pending';
    this.setText(entry, 'transcribing…');
  }

  /**
   * @param {string} itemId
   * @param {string} transcript
   */
  userFinal(itemId, transcript) {
    this.partialText.delete(itemId);
    const entry = this.entry(itemId, 'user');
    entry.dataset.state = 'final';
    this.stamp(entry);
    const text = transcript.trim();
    this.setText(entry, text || '(nothing recognized)');
    this.setPartial('idle');
  }

  /**
   * @param {string} itemId
   * @param {string} message
   */
  userFailed(itemId, message) {
    this.partialText.delete(itemId);
    const entry = this.entry(itemId, 'user');
    entry.dataset.state = 'failed';
    this.stamp(entry);
    this.setText(entry, `(not transcribed: ${message})`);
    this.setPartial('idle');
  }

  /**
   * A message the user typed, as the gateway added it to the conversation.
   * @param {string} itemId
   * @param {string} text
   */
  userTyped(itemId, text) {
    const entry = this.entry(itemId, 'user');
    entry.dataset.state = 'final';
    entry.dataset.typed = 'true';
    this.setText(entry, text);
    this.note(itemId, 'typed');
  }

  /**
   * Assistant text as it streams (spoken transcript or text output).
   * @param {string} itemId
   * @param {string} delta
   */
  assistantDelta(itemId, delta) {
    const entry = this.entry(itemId, 'assistant');
    const paragraph = /** @type {HTMLParagraphElement} */ (entry.querySelector('p'));
    if (entry.dataset.state === 'pending') {
      entry.dataset.state = 'streaming';
      paragraph.textContent = '';
    }
    paragraph.textContent += delta;
    this.follow();
  }

  /** @param {string} itemId */
  assistantStarted(itemId) {
    const entry = this.entry(itemId, 'assistant');
    if (!entry.dataset.state) {
      entry.dataset.state = 'pending';
      this.setText(entry, '…');
    }
  }

  /**
   * @param {string} itemId
   * @param {string} note shown next to the time ('interrupted', 'cancelled', 'failed').
   */
  note(itemId, note) {
    const entry = this.entries.get(itemId);
    if (!entry) return;
    entry.dataset.note = note;
    const label = /** @type {HTMLElement} */ (entry.querySelector('.note'));
    label.textContent = note;
  }

  /**
   * The turn's stage timings, under the reply they led to.
   * @param {string} itemId
   * @param {string} text
   */
  latency(itemId, text) {
    const entry = this.entries.get(itemId);
    if (!entry) return;
    let line = /** @type {HTMLElement | null} */ (entry.querySelector('.latency'));
    if (!line) {
      line = document.createElement('small');
      line.className = 'latency';
      entry.append(line);
    }
    line.textContent = text;
    this.follow();
  }

  /**
   * The session ended: nothing still waiting will arrive, so no entry keeps saying it is
   * coming (a turn committed just before Stop, a reply cut off).
   */
  settleAll() {
    for (const [itemId, entry] of this.entries) {
      if (entry.dataset.state === 'pending' && entry.dataset.role === 'user') {
        entry.dataset.state = 'stopped';
        this.setText(entry, '(stopped before it was transcribed)');
      } else if (entry.dataset.state === 'pending' || entry.dataset.state === 'streaming') {
        if (entry.dataset.state === 'pending') this.setText(entry, '(no reply: stopped)');
        entry.dataset.state = 'final';
        this.note(itemId, 'stopped');
      }
    }
    this.partialText.clear();
  }

  /** @param {string} itemId */
  assistantDone(itemId) {
    const entry = this.entries.get(itemId);
    if (!entry) return;
    if (entry.dataset.state === 'pending') this.setText(entry, '(no text)');
    entry.dataset.state = 'final';
  }

  /**
   * @param {string} itemId
   * @param {'user' | 'assistant'} role
   * @returns {HTMLLIElement}
   */
  entry(itemId, role) {
    const existing = this.entries.get(itemId);
    if (existing) return existing;
    const entry = document.createElement('li');
    entry.className = `turn ${role}`;
    entry.dataset.itemId = itemId;
    entry.dataset.role = role;
    const header = document.createElement('header');
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = role === 'user' ? 'You' : 'Assistant';
    const time = document.createElement('time');
    const note = document.createElement('span');
    note.className = 'note';
    header.append(who, time, note);
    const paragraph = document.createElement('p');
    entry.append(header, paragraph);
    this.stamp(entry);
    this.list.append(entry);
    this.entries.set(itemId, entry);
    while (this.entries.size > MAX_ENTRIES) {
      const [oldestId, oldest] = /** @type {[string, HTMLLIElement]} */ (this.entries.entries().next().value);
      oldest.remove();
      this.entries.delete(oldestId);
    }
    this.follow();
    return entry;
  }

  /** @param {HTMLLIElement} entry */
  stamp(entry) {
    const now = new Date();
    const time = /** @type {HTMLTimeElement} */ (entry.querySelector('time'));
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  /**
   * @param {HTMLLIElement} entry
   * @param {string} text
   */
  setText(entry, text) {
    /** @type {HTMLParagraphElement} */ (entry.querySelector('p')).textContent = text;
    this.follow();
  }

  /** Keeps the newest entry in view unless the user scrolled up to read. */
  follow() {
    const list = this.list;
    if (list.scrollHeight - list.scrollTop - list.clientHeight < 120) list.scrollTop = list.scrollHeight;
  }
}
