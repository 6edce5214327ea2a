/**
 * Cursor pagination as an async iterator: `for await (const run of client.runs.list())` follows
 * `next_cursor` until the last page.
 */

/** One page of a cursor-paginated list. */
export interface Page<T> {
  items: T[];
  nextCursor: string | undefined;
}

/**
 * A lazily fetched, cursor-paginated list. Iterate it item by item with `for await`, page by page
 * with `pages()`, or collect it with `toArray()`. Each iteration starts again from the first page.
 */
export class Paginator<T> implements AsyncIterable<T> {
  private readonly fetchPage: (cursor: string | undefined) => Promise<Page<T>>;
  private readonly startCursor: string | undefined;
  private readonly maxItems: number | undefined;

  constructor(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, options: { cursor?: string; maxItems?: number } = {}) {
    this.fetchPage = fetchPage;
    this.startCursor = options.cursor;
    this.maxItems = options.maxItems;
  }

  /** The pages, each with its items and the cursor of the next one. */
  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let cursor = this.startCursor;
    let remaining = this.maxItems ?? Infinity;
    const seen = new Set<string>();
    while (remaining > 0) {
      const page = await this.fetchPage(cursor);
      const items = page.items.slice(0, Math.min(page.items.length, remaining));
      remaining -= items.length;
      yield { items, nextCursor: page.nextCursor };
      if (!page.nextCursor) return;
      // A server that hands out the same cursor twice would loop forever; stop instead.
      if (seen.has(page.nextCursor)) throw new Error(`pagination cursor repeated: ${page.nextCursor}`);
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) {
      yield* page.items;
    }
  }

  /** Every item (up to `maxItems`), fetched page by page. */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this) out.push(item);
    return out;
  }
}
