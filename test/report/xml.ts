/**
 * A small XML well-formedness check and reader for the report's SVG (no dependency): tags balance,
 * one root, attributes quoted and not repeated, no raw '<' or stray '&' in text or attributes,
 * only the five predefined entities and numeric references. Throws with the offset on the first fault.
 */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string, at: number): string {
  return s.replace(/&([^;&\s]*);?/g, (m, body: string, off: number) => {
    if (!m.endsWith(';')) throw new Error(`XML: bare '&' at ${at + off}`);
    if (body in ENTITIES) return ENTITIES[body];
    const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(body);
    if (num) return String.fromCodePoint(num[1][0] === 'x' ? parseInt(num[1].slice(1), 16) : Number(num[1]));
    throw new Error(`XML: unknown entity &${body}; at ${at + off}`);
  });
}

export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const skipWs = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  if (src.startsWith('<?xml')) i = src.indexOf('?>') + 2;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    const chunk = lt < 0 ? src.slice(i) : src.slice(i, lt);
    if (chunk.includes('>')) throw new Error(`XML: raw '>' in text at ${i + chunk.indexOf('>')}`);
    if (stack.length) stack[stack.length - 1].text += decode(chunk, i);
    else if (chunk.trim()) throw new Error(`XML: text outside the root at ${i}`);
    if (lt < 0) break;
    i = lt;
    if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i);
      if (end < 0) throw new Error(`XML: unterminated comment at ${i}`);
      i = end + 3;
      continue;
    }
    if (src[i + 1] === '/') {
      const m = NAME.exec(src.slice(i + 2));
      if (!m) throw new Error(`XML: bad end tag at ${i}`);
      const open = stack.pop();
      if (!open || open.name !== m[0]) throw new Error(`XML: </${m[0]}> at ${i} closes <${open?.name ?? 'nothing'}>`);
      i += 2 + m[0].length;
      skipWs();
      if (src[i] !== '>') throw new Error(`XML: bad end tag at ${i}`);
      i++;
      continue;
    }
    const m = NAME.exec(src.slice(i + 1));
    if (!m) throw new Error(`XML: '<' not starting a tag at ${i}`);
    i += 1 + m[0].length;
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = i;
      skipWs();
      if (src.startsWith('/>', i) || src[i] === '>') break;
      if (i === before) throw new Error(`XML: attributes need whitespace between them at ${i}`);
      const a = NAME.exec(src.slice(i));
      if (!a) throw new Error(`XML: bad attribute name at ${i}`);
      i += a[0].length;
      skipWs();
      if (src[i] !== '=') throw new Error(`XML: attribute ${a[0]} without '=' at ${i}`);
      i++;
      skipWs();
      const q = src[i];
      if (q !== '"' && q !== "'") throw new Error(`XML: attribute ${a[0]} not quoted at ${i}`);
      const end = src.indexOf(q, i + 1);
      if (end < 0) throw new Error(`XML: unterminated attribute ${a[0]} at ${i}`);
      const raw = src.slice(i + 1, end);
      if (raw.includes('<')) throw new Error(`XML: raw '<' in attribute ${a[0]} at ${i}`);
      if (a[0] in attrs) throw new Error(`XML: attribute ${a[0]} repeated at ${i}`);
      attrs[a[0]] = decode(raw, i + 1);
      i = end + 1;
    }
    const el: XmlElement = { name: m[0], attrs, children: [], text: '' };
    if (stack.length) stack[stack.length - 1].children.push(el);
    else if (root) throw new Error(`XML: a second root element <${m[0]}> at ${i}`);
    else root = el;
    if (src.startsWith('/>', i)) i += 2;
    else {
      i++;
      stack.push(el);
    }
  }
  if (stack.length) throw new Error(`XML: <${stack[stack.length - 1].name}> never closed`);
  if (!root) throw new Error('XML: no root element');
  return root;
}

/** Every element of the tree, depth first. */
export function all(el: XmlElement): XmlElement[] {
  return [el, ...el.children.flatMap(all)];
}

/** The text of an element and its descendants. */
export function textOf(el: XmlElement): string {
  return el.text + el.children.map(textOf).join('');
}
