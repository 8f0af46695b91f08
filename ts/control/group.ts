/**
 * `-g GROUP`: the group that owns the control sockets (mode 0770), so operators in
 * that group can run ckpmsg without being the pool's user. ckpool uses getgrnam();
 * Node has no binding for it, so we read the group database file, which is what
 * getgrnam does on systems without NSS modules. A number is taken as a gid.
 */
import { readFileSync } from 'node:fs';
import { ckError, ckErrorCause } from '../errors.js';

export const GROUP_FILE = '/etc/group';

/** The gid of `group` (a name from `file`, or a plain number). Throws CKP_ERR_CONTROL_GROUP. */
export function resolveGroup(group: string, file = GROUP_FILE): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (/^\d+$/.test(group)) return Number(group);
    throw ckErrorCause('CKP_ERR_CONTROL_GROUP', e, JSON.stringify(group), `${file} (${(e as Error).message})`);
  }
  for (const line of text.split('\n')) {
    // name:password:gid:members
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  if (/^\d+$/.test(group)) return Number(group);
  throw ckError('CKP_ERR_CONTROL_GROUP', JSON.stringify(group), file);
}

/** The name of `gid` in `file`, if it has one (tests, log lines). */
export function groupName(gid: number, file = GROUP_FILE): string | undefined {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, , g] = line.split(':');
      if (name && g === String(gid)) return name;
    }
  } catch {
    // no group file: no name
  }
  return undefined;
}
