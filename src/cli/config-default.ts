/**
 * `crimux config default`: the whole default configuration, every key preceded by its documentation and its
 * environment variable as `//` comment lines (as `containerd config default` prints a commented config). The output
 * is itself a valid config file: crimux's loader accepts whole-line `//` comments.
 */
import { configSchema, wholeValueSchema } from '../config/schema';

interface Leaf {
  readonly doc: string;
  readonly env?: string;
  readonly default: unknown;
}

type Tree = Map<string, Leaf | Tree>;

export function configDefault(): number {
  process.stdout.write(renderDefaultConfig() + '\n');
  return 0;
}

/** The commented default configuration as text. */
export function renderDefaultConfig(): string {
  const tree: Tree = new Map();
  collect(configSchema as unknown as Record<string, unknown>, [], tree);
  for (const [key, spec] of Object.entries(wholeValueSchema))
    insert(tree, key.split('.'), { doc: spec.doc, default: spec.default });
  return render(tree, '');
}

function isLeaf(node: Record<string, unknown>): boolean {
  return 'default' in node && 'doc' in node;
}

function collect(schema: Record<string, unknown>, at: string[], tree: Tree): void {
  for (const [key, node] of Object.entries(schema)) {
    if (!node || typeof node !== 'object') continue;
    const n = node as Record<string, unknown>;
    if (isLeaf(n))
      insert(tree, [...at, key], { doc: String(n.doc), env: n.env as string | undefined, default: n.default });
    else collect(n, [...at, key], tree);
  }
}

function insert(tree: Tree, keyPath: string[], leaf: Leaf): void {
  let node = tree;
  for (const part of keyPath.slice(0, -1)) {
    let next = node.get(part);
    if (!(next instanceof Map)) {
      next = new Map();
      node.set(part, next);
    }
    node = next;
  }
  node.set(keyPath[keyPath.length - 1] as string, leaf);
}

function render(tree: Tree, indent: string): string {
  const inner = indent + '  ';
  const entries = [...tree.entries()].map(([key, node]) => {
    if (node instanceof Map) return `${inner}${JSON.stringify(key)}: ${render(node, inner)}`;
    const comment = `${inner}// ${node.doc}${node.env ? ` (env ${node.env})` : ''}\n`;
    const value = JSON.stringify(node.default, null, 2).replace(/\n/g, `\n${inner}`);
    return `${comment}${inner}${JSON.stringify(key)}: ${value}`;
  });
  return `{\n${entries.join(',\n')}\n${indent}}`;
}
