// A structural reader for PowerShell scripts, for want of pwsh (not in Debian's archive): it tokenizes comments,
// single- and double-quoted strings with $( ) subexpressions, here-strings and backtick escapes, and reports
// unbalanced or mismatched brackets, unterminated strings, and the PowerShell 7-only operators ?? and ?. that
// Windows PowerShell 5.1 rejects. It also lists the functions a script defines and the Verb-Gd* functions it
// calls, so a test can check every call has a definition. It is not a parser: it proves structure, not semantics.

export interface PowerShellStructure {
  problems: string[];
  defined: string[];
  /** Calls of this script's own functions (Verb-GdNoun), outside strings and comments. */
  calledOwn: string[];
}

export function readPowerShell(src: string): PowerShellStructure {
  const problems: string[] = [];
  const stack: Array<{ ch: string; line: number }> = [];
  const pairs: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  let code = '';
  let i = 0;
  let line = 1;
  const at = () => `line ${line}`;

  const advance = (n = 1): void => {
    for (let k = 0; k < n && i < src.length; k++, i++) if (src[i] === '\n') line++;
  };

  // Reads code until `stop` (a closing parenthesis of a $( ) inside a string) at depth 0, or the end.
  const readCode = (stopDepth: number | undefined): void => {
    while (i < src.length) {
      const c = src[i]!;
      const next = src[i + 1];
      if (c === '<' && next === '#') {
        const end = src.indexOf('#>', i + 2);
        if (end < 0) return void problems.push(`${at()}: unterminated block comment`);
        advance(end + 2 - i);
        continue;
      }
      if (c === '#') {
        const end = src.indexOf('\n', i);
        advance((end < 0 ? src.length : end) - i);
        continue;
      }
      if (c === '`') {
        code += ' ';
        advance(2);
        continue;
      }
      if (c === '@' && (next === "'" || next === '"') && /^\r?\n/.test(src.slice(i + 2, i + 4))) {
        const startLine = line;
        const close = new RegExp(`\\n${next}@`, 'g');
        close.lastIndex = i + 2;
        const m = close.exec(src);
        if (!m) return void problems.push(`line ${startLine}: unterminated here-string`);
        code += ' "" ';
        advance(m.index + 3 - i);
        continue;
      }
      if (c === "'") {
        const startLine = line;
        advance();
        for (;;) {
          if (i >= src.length) return void problems.push(`line ${startLine}: unterminated single-quoted string`);
          if (src[i] === "'" && src[i + 1] === "'") advance(2);
          else if (src[i] === "'") break;
          else advance();
        }
        advance();
        code += " '' ";
        continue;
      }
      if (c === '"') {
        const startLine = line;
        advance();
        for (;;) {
          if (i >= src.length) return void problems.push(`line ${startLine}: unterminated double-quoted string`);
          const d = src[i];
          if (d === '`') advance(2);
          else if (d === '"' && src[i + 1] === '"') advance(2);
          else if (d === '"') break;
          else if (d === '$' && src[i + 1] === '(') {
            advance(2);
            stack.push({ ch: '(', line });
            const depth = stack.length;
            readCode(depth);
            if (stack.length >= depth) return void problems.push(`line ${startLine}: unterminated $( ) in a string`);
          } else advance();
        }
        advance();
        code += ' "" ';
        continue;
      }
      if (c === '(' || c === '{' || c === '[') stack.push({ ch: c, line });
      if (c === ')' || c === '}' || c === ']') {
        const open = stack.pop();
        if (!open) problems.push(`${at()}: "${c}" closes nothing`);
        else if (open.ch !== pairs[c]) problems.push(`${at()}: "${c}" closes "${open.ch}" opened on line ${open.line}`);
        if (stopDepth !== undefined && c === ')' && stack.length === stopDepth - 1) {
          advance();
          return;
        }
      }
      if (c === '?' && (next === '?' || next === '.')) problems.push(`${at()}: "?${next}" is PowerShell 7 only`);
      code += c;
      advance();
    }
  };

  readCode(undefined);
  for (const open of stack) problems.push(`line ${open.line}: "${open.ch}" is never closed`);
  const defined = [...code.matchAll(/\bfunction\s+([A-Za-z][\w-]*)/gi)].map((m) => m[1]!);
  const calledOwn = [...new Set([...code.matchAll(/\b([A-Z][a-z]+-Gd[A-Za-z]+)\b/g)].map((m) => m[1]!))];
  return { problems, defined, calledOwn };
}
