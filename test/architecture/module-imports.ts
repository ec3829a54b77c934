/**
 * Reads the module specifiers a source file imports: static imports (type-only included),
 * `export … from`, side-effect imports and dynamic `import('…')`. Comments, strings and
 * template literals are blanked first, so an import written inside a comment or a string
 * does not count.
 */

export interface ModuleImport {
  specifier: string;
  line: number;
  kind: 'static' | 'dynamic';
}

/** A `/` starts a regular expression literal where an operand is expected, not a division. */
function startsRegex(source: string, slashAt: number): boolean {
  const before = source.slice(Math.max(0, slashAt - 16), slashAt).trimEnd();
  if (before === '') return true;
  return /[(,=:[!&|?{};+\-*%<>~^]$/.test(before) || /(?<![\w$])(?:return|typeof|case|in|of|void|yield|await)$/.test(before);
}

/** Replaces comments with spaces and the contents of strings with `s`, keeping offsets and newlines. */
function blankCommentsAndStrings(source: string): { code: string; strings: Map<number, string> } {
  const out = source.split('');
  const strings = new Map<number, string>();
  const blank = (from: number, to: number, fill: string): void => {
    for (let i = from; i < to; i++) if (out[i] !== '\n') out[i] = fill;
  };
  // Each open template literal pushes the brace depth its `${` started at.
  const templateDepths: number[] = [];
  let braceDepth = 0;
  let i = 0;
  const scanTemplate = (start: number): number => {
    let j = start;
    while (j < source.length) {
      if (source[j] === '\\') {
        j += 2;
        continue;
      }
      if (source[j] === '`') {
        blank(start, j, 's');
        return j + 1;
      }
      if (source[j] === '$' && source[j + 1] === '{') {
        blank(start, j, 's');
        templateDepths.push(braceDepth);
        braceDepth++;
        return j + 2;
      }
      j++;
    }
    return j;
  };
  while (i < source.length) {
    const ch = source[i];
    const next = source[i + 1];
    if (ch === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      blank(i, stop, ' ');
      i = stop;
    } else if (ch === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      blank(i, stop, ' ');
      i = stop;
    } else if (ch === '/' && startsRegex(source, i)) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== '\n' && (inClass || source[j] !== '/')) {
        if (source[j] === '\\') j++;
        else if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        j++;
      }
      blank(i + 1, j, 's');
      i = j + 1;
    } else if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== ch && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      strings.set(i, source.slice(i + 1, j));
      blank(i + 1, j, 's');
      i = j + 1;
    } else if (ch === '`') {
      i = scanTemplate(i + 1);
    } else if (ch === '{') {
      braceDepth++;
      i++;
    } else if (ch === '}') {
      braceDepth--;
      if (templateDepths.length > 0 && templateDepths[templateDepths.length - 1] === braceDepth) {
        templateDepths.pop();
        i = scanTemplate(i + 1);
      } else {
        i++;
      }
    } else {
      i++;
    }
  }
  return { code: out.join(''), strings };
}

const STATIC_IMPORT = /(?<![\w$.])(?:import|export)(?:\s+type)?\s+(?:[\w$*{}\s,]*?\s*from\s*)?(['"])/g;
const DYNAMIC_IMPORT = /(?<![\w$.])import\s*\(\s*(['"`]?)/g;

export function readModuleImports(source: string): ModuleImport[] {
  const { code, strings } = blankCommentsAndStrings(source);
  const lineOf = (offset: number): number => code.slice(0, offset).split('\n').length;
  const imports: ModuleImport[] = [];
  for (const match of code.matchAll(STATIC_IMPORT)) {
    const quoteAt = match.index + match[0].length - 1;
    imports.push({ specifier: strings.get(quoteAt) ?? '', line: lineOf(match.index), kind: 'static' });
  }
  for (const match of code.matchAll(DYNAMIC_IMPORT)) {
    const quote = match[1];
    const quoteAt = match.index + match[0].length - 1;
    const specifier = quote === "'" || quote === '"' ? strings.get(quoteAt) : undefined;
    // A computed specifier cannot be checked, so it is reported as one to make literal.
    imports.push({ specifier: specifier ?? '<computed>', line: lineOf(match.index), kind: 'dynamic' });
  }
  return imports;
}
