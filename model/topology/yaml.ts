/**
 * Reading a stack file's YAML: the parsed value, and where each key sits in the text so that a
 * message can say "(line 12)". Syntax errors come back as issues with their line and column.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { err, type LineNote } from './checker';
import type { Issue } from './types';

export type StackYaml = { readonly ok: true; readonly root: unknown; readonly line: LineNote } | { readonly ok: false; readonly issues: Issue[] };

export function readStackYaml(text: string): StackYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos ? `line ${pos.line}, column ${pos.col}` : 'unknown position';
        const first = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return err('yaml', `YAML syntax error at ${where}: ${first}; fix the file's indentation or quoting there`);
      }),
    };
  }
  const root: unknown = doc.toJS();
  return { ok: true, root, line: lineNote(doc.contents as YamlNode | null, lineCounter) };
}

/** Line of a YAML node at a config path like ['config', 'tandem:topology', 'sites', 2]. */
function lineNote(docRoot: YamlNode | null, lineCounter: LineCounter): LineNote {
  const lineOf = (node: YamlNode | null | undefined): number | undefined => {
    const range = node?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  return (keys) => {
    let node: unknown = docRoot;
    for (const k of keys) {
      if (isMap(node)) node = node.get(k, true);
      else if (isSeq(node)) node = node.get(k as number, true);
      else return '';
    }
    const l = node && (isScalar(node) || isMap(node) || isSeq(node)) ? lineOf(node) : undefined;
    return l ? ` (line ${l})` : '';
  };
}
