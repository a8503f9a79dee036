/**
 * Duplicate-key detection in request bodies, for `fieldValidation=Strict|Warn`: JSON.parse and the
 * YAML loader silently keep the last of two equal keys, while kube-apiserver's strict decoder
 * (sigs.k8s.io/json) reports each repeat as `duplicate field "<path>"`. Paths use the same form as
 * unknown fields (`spec.template.spec.containers[0].name`); the value kept is still the last one.
 */

import { isMap, isScalar, isSeq, type Node } from 'yaml';

interface ObjectFrame {
  readonly kind: 'object';
  readonly path: string;
  readonly keys: Set<string>;
  key: string;
  expectKey: boolean;
}

interface ArrayFrame {
  readonly kind: 'array';
  readonly path: string;
  index: number;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * The path of every repeated key in `text`, in document order. `text` must be valid JSON (parse it
 * first): the scan only tracks strings and brackets and does not re-check the syntax.
 */
export function duplicateJsonFields(text: string): string[] {
  const found: string[] = [];
  const stack: (ObjectFrame | ArrayFrame)[] = [];
  const childPath = (): string => {
    const top = stack.at(-1);
    if (top === undefined) return '';
    return top.kind === 'array' ? `${top.path}[${top.index}]` : join(top.path, top.key);
  };
  for (let i = 0; i < text.length; i++) {
    switch (text.charCodeAt(i)) {
      case 0x7b: // {
        stack.push({ kind: 'object', path: childPath(), keys: new Set(), key: '', expectKey: true });
        break;
      case 0x5b: // [
        stack.push({ kind: 'array', path: childPath(), index: 0 });
        break;
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop();
        break;
      case 0x2c: {
        // ,
        const top = stack.at(-1);
        if (top?.kind === 'array') top.index++;
        else if (top !== undefined) top.expectKey = true;
        break;
      }
      case 0x22: {
        // "
        let end = i + 1;
        while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1;
        const top = stack.at(-1);
        if (top?.kind === 'object' && top.expectKey) {
          const raw = text.slice(i + 1, end);
          const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
          if (top.keys.has(key)) found.push(join(top.path, key));
          else top.keys.add(key);
          top.key = key;
          top.expectKey = false;
        }
        i = end;
        break;
      }
      default:
        break;
    }
  }
  return found;
}

/**
 * The path of every repeated key under `node` (a document parsed with `uniqueKeys: false`), in
 * document order. Non-scalar keys are compared by their YAML text.
 */
export function duplicateYamlFields(node: Node | null | undefined, path = ''): string[] {
  const found: string[] = [];
  visit(node, path, found);
  return found;
}

function visit(node: unknown, path: string, found: string[]): void {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const child = join(path, key);
      if (seen.has(key)) found.push(child);
      else seen.add(key);
      visit(pair.value, child, found);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      visit(item, `${path}[${i}]`, found);
    });
  }
}
