/**
 * Deleting the cached user row after the mapping flips (key templates: ./keys.ts). memjs speaks the
 * binary protocol that memcached has supported since 1.4 and is maintained; it saves us a protocol
 * implementation.
 */
import memjs from 'memjs';
import type { MemcachedSpec } from '../topology/index.js';
import { cacheKeys } from './keys.js';

export { cacheKeys };

export interface CacheInvalidator {
  /** Delete every configured key for the user on every server. Resolves with the keys deleted. */
  invalidateUser(userId: string): Promise<string[]>;
  close(): void;
}

export function memcachedInvalidator(spec: MemcachedSpec): CacheInvalidator {
  // One client per server: a user's key lives on one server of the pool, but which one depends on the
  // app's hashing, so delete it everywhere.
  const clients = spec.servers.map((s) =>
    memjs.Client.create(s.includes(':') ? s : `${s}:11211`, { retries: 1, timeout: 2, conntimeout: 2, logger: { log: () => undefined } }),
  );
  return {
    async invalidateUser(userId: string): Promise<string[]> {
      const keys = cacheKeys(spec, userId);
      await Promise.all(clients.flatMap((c) => keys.map((k) => c.delete(k))));
      return keys;
    },
    close() {
      for (const c of clients) c.close();
    },
  };
}
