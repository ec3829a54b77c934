// @ts-check
/**
 * The event log: every realtime event the page sends and receives, newest last, in a
 * collapsible panel. Audio moves as 25 appends and dozens of deltas a second, so a run of
 * events of one type and direction is one line with a count; the newest 200 lines are kept.
 */

/** Lines kept: about a minute of a conversation's events with audio runs folded. */
const MAX_LINES = 200;
/** Characters of detail shown per line; the rest is in the line's tooltip. */
const MAX_DETAIL = 120;

/** @typedef {'sent' | 'received'} Direction */

export class EventLog {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLElement} counter shows how many events were logged in all.
   */
  constructor(list, counter) {
    this.list = list;
    this.counter = counter;
    this.total = 0;
    /** @type {{ direction: Direction, type: string, count: number, line: HTMLLIElement } | null} */
    this.last = null;
  }

  /**
   * @param {Direction} direction
   * @param {{ type: string } & Record<string, any>} event
   */
  add(direction, event) {
    this.total++;
    this.counter.textContent = String(this.total);
    const last = this.last;
    if (last && last.direction === direction && last.type === event.type) {
      last.count++;
      /** @type {HTMLElement} */ (last.line.querySelector('.count')).textContent = `×${last.count}`;
      this.setDetail(last.line, describe(event));
      return;
    }
    const line = document.createElement('li');
    line.dataset.direction = direction;
    line.dataset.type = event.type;
    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = `${now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })}.${String(now.getMilliseconds()).padStart(3, '0')}`;
    const arrow = document.createElement('span');
    arrow.className = 'direction';
    arrow.textContent = direction === 'sent' ? '→' : '←';
    arrow.title = direction === 'sent' ? 'sent by the page' : 'received from the gateway';
    const type = document.createElement('span');
    type.className = 'type';
    type.textContent = event.type;
    const count = document.createElement('span');
    count.className = 'count';
    const detail = document.createElement('span');
    detail.className = 'detail';
    line.append(time, arrow, type, count, detail);
    this.setDetail(line, describe(event));
    this.list.append(line);
    this.last = { direction, type: event.type, count: 1, line };
    while (this.list.children.length > MAX_LINES) this.list.firstElementChild?.remove();
    if (this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80) this.list.scrollTop = this.list.scrollHeight;
  }

  /**
   * @param {HTMLLIElement} line
   * @param {string} text
   */
  setDetail(line, text) {
    const detail = /** @type {HTMLElement} */ (line.querySelector('.detail'));
    detail.textContent = text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text;
    line.title = text;
  }
}

/**
 * The part of an event worth a glance: an error's message, a transcript, the item or response
 * it is about. Audio payloads are left out.
 * @param {Record<string, any>} event
 */
function describe(event) {
  if (event.error) return `${event.error.code ?? ''} ${event.error.message ?? ''}`.trim();
  if (typeof event.transcript === 'string') return event.transcript;
  if (typeof event.delta === 'string' && !/audio\.delta$/.test(event.type)) return event.delta;
  if (event.type === 'speechbridge.turn.timings') {
    return ['transcription_ms', 'first_token_ms', 'first_audio_ms', 'total_ms'].map((field) => `${field.replace(/_ms$/, '')} ${event[field] ?? '–'}`).join(', ');
  }
  if (event.response?.status) return `${event.response.id ?? ''} ${event.response.status}`.trim();
  if (event.item?.id) return `${event.item.id} ${event.item.role ?? event.item.type ?? ''}`.trim();
  if (event.item_id) return String(event.item_id);
  if (event.session?.type) return String(event.session.type);
  return '';
}
