import { FwShardError } from '../errors/index.js';
import { parseUserId } from '../topology/index.js';

/** A move id argument, or --user ID: exactly one of them. */
export function moveRef(id: string | undefined, user: string | undefined): { moveId: string } | { userId: ReturnType<typeof parseUserId> } {
  if ((id === undefined) === (user === undefined)) throw new FwShardError('USAGE', 'give either a move id or --user ID');
  if (id !== undefined && !/^[0-9]+$/.test(id)) throw new FwShardError('USAGE', `move id must be digits, got '${id}'`);
  return id !== undefined ? { moveId: id } : { userId: parseUserId(user!) };
}
