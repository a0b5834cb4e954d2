/**
 * An app writing on a shard in a loop while a move runs (the integration tests of rows owned through a
 * parent and of shared rows): each step is one transaction of the app's; a write fw-shard's fence refuses
 * (1644) is counted, a deadlock or lock wait is retried, anything else is an error the test asserts none of.
 */
import { raw, sql } from '../../src/db/sql/fragment.js';
import { isFrozenSql } from '../../src/db/sql/freeze.js';
import type { Db } from '../../src/db/pool.js';

/** The MySQL error number of a driver error (or of the error it wraps). */
export const errnoOf = (err: unknown): number | undefined =>
  (err as { errno?: number; cause?: { errno?: number } }).errno ?? (err as { cause?: { errno?: number } }).cause?.errno;

export abstract class AppWriter {
  statements = 0;
  refused = 0;
  readonly errors: string[] = [];
  #running = false;
  #loop: Promise<void> | undefined;

  /** `main`: re-hash mode's contract, the app reads the user's shard and the freeze before it writes (as contrib/flamework's lib_fw_shard). */
  constructor(
    protected readonly db: Db,
    protected readonly main: Db | null,
  ) {}

  /** One write of the app (one transaction), or nothing. */
  abstract step(): Promise<void>;

  /** Whether user 42 still lives on shard 1; waits while it is frozen. */
  async mayWrite(main: Db): Promise<boolean> {
    for (;;) {
      const [u] = await main.rows<{ c: unknown }>(sql`SELECT cluster_id AS c FROM users WHERE id = 42`);
      if (Number(u?.c) !== 1) return false;
      const [f] = await main.rows<{ frozen: unknown }>(isFrozenSql('42')).catch(() => [{ frozen: 0 }]);
      if (Number(f?.frozen) === 0) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          await this.step();
          this.statements++;
        } catch (err) {
          if (errnoOf(err) === 1644) this.refused++;
          else if (errnoOf(err) === 1213 || errnoOf(err) === 1205) continue;
          else this.errors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** Write while `fn` runs, and a moment after (writes that reach the old shard once the move is done). */
  async during<T>(fn: () => Promise<T>, afterMs = 150): Promise<T> {
    this.start();
    try {
      const r = await fn();
      await new Promise((res) => setTimeout(res, afterMs));
      return r;
    } finally {
      await this.stop();
    }
  }

  /** The id the query returns first, or null. */
  async one(q: string): Promise<string | null> {
    const rows = await this.db.rows<{ id: string }>(sql`${raw(q)}`);
    return rows[0]?.id ?? null;
  }
}
