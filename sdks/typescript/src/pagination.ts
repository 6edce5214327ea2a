/**
 * Cursor pagination as async iterators: `for await (const run of client.runs.list({ status: "failed" }))`
 * and `for await (const failure of client.failures.list({ code: "HTTP_503" }))` follow
 * `next_cursor` until the last page.
 */

import type {
  AuditEvent,
  AuditList,
  FailureList,
  FailureRecord,
  RecoveryCandidate,
  RecoveryCandidateList,
  RunList,
  RunSummary,
} from "./types.js";

/** What a pager knows about the iteration a page request belongs to. */
export interface PageRequest {
  /** The page number within this iteration, from 0. */
  page: number;
  /** When this iteration started (ms since the epoch): lets a pager pin a moving default such as "now". */
  startedAtMs: number;
}

/** Fetches the page at `cursor` (`undefined`: the first page). */
export type PageFetcher<TPage> = (cursor: string | undefined, request: PageRequest) => Promise<TPage>;

export interface PagerOptions {
  /** Start from this cursor instead of the first page. */
  cursor?: string;
  /** Stop after this many items. */
  maxItems?: number;
}

/**
 * Items of a cursor-paginated listing, fetched lazily page by page. Iterate it item by item with
 * `for await`, page by page with `pages()`, or collect it with `toList()`. Each iteration starts
 * again from the first page (or the `cursor` it was created with). Pages may be empty and still
 * have a `next_cursor` (the failure listing filters after reading); iteration goes on until a page
 * has none.
 */
export abstract class Pager<TItem, TPage extends { next_cursor?: string | null }> implements AsyncIterable<TItem> {
  private readonly fetchPage: PageFetcher<TPage>;
  private readonly startCursor: string | undefined;
  private readonly maxItems: number | undefined;

  protected constructor(fetchPage: PageFetcher<TPage>, options: PagerOptions = {}) {
    this.fetchPage = fetchPage;
    this.startCursor = options.cursor;
    this.maxItems = options.maxItems;
  }

  /** The items of a page. */
  protected abstract itemsOf(page: TPage): TItem[];
  /** The page with its items replaced (cut at `maxItems`). */
  protected abstract withItems(page: TPage, items: TItem[]): TPage;

  /** The pages as the API answers them (items and `next_cursor`), cut at `maxItems`. */
  async *pages(): AsyncGenerator<TPage, void, undefined> {
    let cursor = this.startCursor;
    let remaining = this.maxItems ?? Infinity;
    const startedAtMs = Date.now();
    const seen = new Set<string>();
    for (let n = 0; remaining > 0; n++) {
      const page = await this.fetchPage(cursor, { page: n, startedAtMs });
      const all = this.itemsOf(page);
      const items = all.length > remaining ? all.slice(0, remaining) : all;
      remaining -= items.length;
      yield items === all ? page : this.withItems(page, items);
      const next = page.next_cursor ?? undefined;
      if (!next) return;
      // A cursor handed out twice would loop forever; stop instead.
      if (seen.has(next)) throw new Error(`pagination cursor repeated: ${next}`);
      seen.add(next);
      cursor = next;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<TItem, void, undefined> {
    for await (const page of this.pages()) yield* this.itemsOf(page);
  }

  /** Every item (up to `maxItems`), fetched page by page. */
  async toList(): Promise<TItem[]> {
    const out: TItem[] = [];
    for await (const item of this) out.push(item);
    return out;
  }

  /** Same as `toList()`. */
  toArray(): Promise<TItem[]> {
    return this.toList();
  }
}

/** The runs matching a filter, newest first (`client.runs.list`). */
export class RunPager extends Pager<RunSummary, RunList> {
  constructor(fetchPage: PageFetcher<RunList>, options: PagerOptions = {}) {
    super(fetchPage, options);
  }
  protected itemsOf(page: RunList): RunSummary[] {
    return page.runs;
  }
  protected withItems(page: RunList, runs: RunSummary[]): RunList {
    return { ...page, runs };
  }
}

/** The recorded failures matching a filter, newest first (`client.failures.list`). */
export class FailurePager extends Pager<FailureRecord, FailureList> {
  constructor(fetchPage: PageFetcher<FailureList>, options: PagerOptions = {}) {
    super(fetchPage, options);
  }
  protected itemsOf(page: FailureList): FailureRecord[] {
    return page.failures;
  }
  protected withItems(page: FailureList, failures: FailureRecord[]): FailureList {
    return { ...page, failures };
  }
}

/** The events of the audit log matching a filter, newest first (`client.audit.list`). */
export class AuditPager extends Pager<AuditEvent, AuditList> {
  constructor(fetchPage: PageFetcher<AuditList>, options: PagerOptions = {}) {
    super(fetchPage, options);
  }
  protected itemsOf(page: AuditList): AuditEvent[] {
    return page.events;
  }
  protected withItems(page: AuditList, events: AuditEvent[]): AuditList {
    return { ...page, events };
  }
}

/** The recovery candidates matching a filter (`client.recovery.candidates`). */
export class RecoveryCandidatePager extends Pager<RecoveryCandidate, RecoveryCandidateList> {
  constructor(fetchPage: PageFetcher<RecoveryCandidateList>, options: PagerOptions = {}) {
    super(fetchPage, options);
  }
  protected itemsOf(page: RecoveryCandidateList): RecoveryCandidate[] {
    return page.candidates;
  }
  protected withItems(page: RecoveryCandidateList, candidates: RecoveryCandidate[]): RecoveryCandidateList {
    return { ...page, candidates };
  }
}
