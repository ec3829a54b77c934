/**
 * The one normal form of a request target. The HTTP routes, the token check, Socket.IO and the
 * WebSocket upgrade router all see the request through it, so no spelling of a path reaches a
 * handler under another name than the one the token check judged:
 *
 * - an absolute-form target (`GET http://any.host/v1/models`, which HTTP/1.1 servers must
 *   accept) keeps its path and query; its authority is ignored;
 * - percent-encoded unreserved characters are decoded (`/%76%31/models` is `/v1/models`), other
 *   escapes stay encoded with upper-case hex (`%2f` is `%2F`, a character inside a segment, not
 *   a separator), and a `%` not followed by two hex digits makes the target malformed;
 * - runs of slashes are one slash, `.` and `..` segments are resolved (RFC 3986 5.2.4; `..` at
 *   the root stays at the root), and a trailing slash is dropped (`/v1/models/` is
 *   `/v1/models`; `trailingSlash` says it was there, for the demo page's directory URL);
 * - the query is kept as sent, a fragment (which clients never send) is dropped.
 *
 * Letter case is kept: routes are case-sensitive, so `/V1/models` is a path of its own.
 */

export interface RequestTarget {
  /** The normalised path, always starting with `/`. */
  path: string;
  /** The query with its `?`, or ''. */
  query: string;
  /** path + query: what request.url becomes. */
  url: string;
  /** Whether the path named a directory (`/demo/`, `/demo/.`) before its trailing slash was dropped. */
  trailingSlash: boolean;
}

export type TargetOutcome = { ok: true; target: RequestTarget } | { ok: false; reason: string };

/** scheme "://" authority, as in `http://evil.example:8080`: RFC 3986 3.1 and 3.2. */
const ABSOLUTE_FORM_PREFIX = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** Enough of a bad path to recognise it in an error message, never the query (it may hold a token). */
const QUOTED_PATH_CHARS = 100;

export function normalizeRequestTarget(raw: string): TargetOutcome {
  let target = raw;
  const absolute = ABSOLUTE_FORM_PREFIX.exec(target);
  if (absolute) {
    target = target.slice(absolute[0].length);
    if (!target.startsWith('/')) target = `/${target}`;
  }
  const fragmentAt = target.indexOf('#');
  if (fragmentAt >= 0) target = target.slice(0, fragmentAt);
  const queryAt = target.indexOf('?');
  const rawPath = queryAt >= 0 ? target.slice(0, queryAt) : target;
  const query = queryAt >= 0 ? target.slice(queryAt) : '';
  if (!rawPath.startsWith('/')) {
    return { ok: false, reason: `the request target ${quote(rawPath)} is not a path: send an origin-form target such as /v1/models` };
  }
  const decoded = decodeUnreserved(rawPath);
  if (decoded === undefined) {
    return { ok: false, reason: `the request path ${quote(rawPath)} has a malformed percent-encoding: "%" must be followed by two hex digits` };
  }
  const resolved = removeDotSegments(decoded.replace(/\/{2,}/g, '/'));
  const trailingSlash = resolved.length > 1 && resolved.endsWith('/');
  const path = trailingSlash ? resolved.slice(0, -1) : resolved;
  return { ok: true, target: { path, query, url: path + query, trailingSlash } };
}

/** The path with unreserved characters decoded and other escapes upper-cased; undefined when an escape is malformed. */
function decodeUnreserved(path: string): string | undefined {
  if (!path.includes('%')) return path;
  let result = '';
  for (let index = 0; index < path.length; index++) {
    const char = path[index];
    if (char !== '%') {
      result += char;
      continue;
    }
    const hex = path.slice(index + 1, index + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    const decoded = String.fromCharCode(Number.parseInt(hex, 16));
    result += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
    index += 2;
  }
  return result;
}

/** RFC 3986 5.2.4 for an absolute path: `/a/./b/../c` → `/a/c`; `..` never climbs above `/`. */
function removeDotSegments(path: string): string {
  const segments = path.split('/').slice(1);
  const output: string[] = [];
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') output.pop();
      // A final dot segment names the directory: /a/b/.. is /a/, not /a.
      if (last) output.push('');
      continue;
    }
    output.push(segment);
  }
  return `/${output.join('/')}`;
}

function quote(path: string): string {
  return JSON.stringify(path.length > QUOTED_PATH_CHARS ? `${path.slice(0, QUOTED_PATH_CHARS)}…` : path);
}
