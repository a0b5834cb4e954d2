/**
 * The cache keys of the user row, set here and nowhere else. Known Flamework variants of the user row's key:
 *  - `USER-{id}`: upstream exflickr/flamework lib_users.php (`cache_set("USER-{$id}", $user)`,
 *    `cache_unset` in users_update_user), and the forks that kept it (whosonfirst, straup).
 *  - `user_{id}`: parallel-flickr and Dotspotting-era apps (`cache_get("user_{$id}")`).
 * With a prefix the key becomes `${prefix}_${key}`, as Flamework's _cache_prepare_key does: upstream
 * only when `enable_feature_cache_prefixes` is on; older lib_cache.php whenever `cache_prefix` is set.
 * Deleting a key that does not exist costs one round trip, so by default both variants are deleted:
 * the wrong guess is harmless, a missing key leaves PHP processes writing to the old shard.
 */
import type { MemcachedSpec } from '../topology/index.js';

/** The known user-row key templates, by where they come from. */
export const KNOWN_USER_KEYS = { flamework: 'USER-{id}', parallelFlickr: 'user_{id}' } as const;
/** `memcached.keys` when the config gives none: every known variant. */
export const DEFAULT_USER_KEYS: readonly string[] = [KNOWN_USER_KEYS.flamework, KNOWN_USER_KEYS.parallelFlickr];

export function cacheKeys(spec: MemcachedSpec, userId: string): string[] {
  return spec.keys.map((tpl) => {
    const k = tpl.split('{id}').join(userId);
    return spec.prefix ? `${spec.prefix}_${k}` : k;
  });
}
