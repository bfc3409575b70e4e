/** Splits a list into pages for the Stream* RPCs, so one huge list never becomes one huge message. */
export const PAGE_SIZE = 256;

export function* pages<T>(items: readonly T[], size = PAGE_SIZE): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
