import { readFileSync } from 'node:fs';

/**
 * The user and group a child process runs as, from names or numbers as a configuration writes
 * them (Twitcher's `uid=`/`gid=` accept both). Names are looked up in /etc/passwd and
 * /etc/group, read directly: no NSS (LDAP, systemd-homed) behind them.
 */

export interface UserEntry {
  name: string;
  uid: number;
  /** The user's primary group. */
  gid: number;
  /** The home directory field ('' when the line leaves it empty). */
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
}

export interface IdentityDatabase {
  users: UserEntry[];
  groups: GroupEntry[];
  /** Where the entries came from, for error messages. */
  passwdFile: string;
  groupFile: string;
}

/** What was asked for: a name, a number, or a numeric string. */
export interface IdentityRequest {
  uid?: number | string;
  gid?: number | string;
}

/** Ids for spawn(); an absent one leaves the daemon's own. */
export interface Identity {
  uid?: number;
  gid?: number;
}

export class IdentityError extends Error {
  /** Which part of the request is wrong: the user (uid) or the group (gid). */
  constructor(
    message: string,
    readonly field: 'uid' | 'gid',
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

/** Ids are 32-bit; (uid_t)-1 means "unchanged" to setuid-style calls, so it is not an id. */
const MAX_ID = 0xfffffffe;
const DIGITS = /^[0-9]+$/;

/** name:password:uid:gid:gecos:home:shell lines; comments, blanks and malformed lines skipped. */
export function parsePasswd(text: string): UserEntry[] {
  return fieldsOf(text, 7).flatMap(([name, , uid, gid, , home]) =>
    DIGITS.test(uid) && DIGITS.test(gid) ? [{ name, uid: Number(uid), gid: Number(gid), home }] : [],
  );
}

/** name:password:gid:members lines; comments, blanks and malformed lines skipped. */
export function parseGroup(text: string): GroupEntry[] {
  return fieldsOf(text, 4).flatMap(([name, , gid]) => (DIGITS.test(gid) ? [{ name, gid: Number(gid) }] : []));
}

function fieldsOf(text: string, count: number): string[][] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= count && fields[0] !== '');
}

/**
 * Resolves names and numbers to ids. A name is looked up first; a string of digits that names
 * nobody is an id (chown's rule). A uid without a gid runs with that user's primary group from
 * /etc/passwd, as login, su and sudo do: Twitcher's "gid defaults to root" would give `nobody`
 * root's group and the files it may read. A numeric uid that /etc/passwd does not list has no
 * primary group to take, so it needs an explicit gid rather than silently keeping root's.
 * A gid without a uid changes only the group. Supplementary groups are never kept: spawn()
 * clears them whenever it changes the uid or gid.
 */
export function resolveIdentity(request: IdentityRequest, db: IdentityDatabase): Identity {
  const user = request.uid === undefined ? undefined : findUser(request.uid, db);
  const gid = request.gid === undefined ? undefined : findGroup(request.gid, db);
  if (!user) return gid === undefined ? {} : { gid };
  if (gid !== undefined) return { uid: user.uid, gid };
  if (user.primaryGid === undefined) {
    throw new IdentityError(
      `uid ${user.uid} has no entry in ${db.passwdFile}, so it has no primary group: give a gid as well`,
      'uid',
    );
  }
  return { uid: user.uid, gid: user.primaryGid };
}

function findUser(wanted: number | string, db: IdentityDatabase): { uid: number; primaryGid?: number } {
  const account = accountFor(wanted, db);
  if (account) return { uid: account.uid, primaryGid: account.gid };
  return { uid: idOf(wanted, 'uid', 'user', db.passwdFile) };
}

/**
 * The passwd entry a user request names, by the same rule as resolveIdentity (a name first,
 * then a number); undefined for a uid /etc/passwd does not list or a name it does not know.
 */
export function accountFor(wanted: number | string, db: IdentityDatabase): UserEntry | undefined {
  const byName = typeof wanted === 'string' ? db.users.find((u) => u.name === wanted) : undefined;
  if (byName || (typeof wanted === 'string' && !DIGITS.test(wanted))) return byName;
  const uid = Number(wanted);
  return db.users.find((u) => u.uid === uid);
}

function findGroup(wanted: number | string, db: IdentityDatabase): number {
  const byName = typeof wanted === 'string' ? db.groups.find((g) => g.name === wanted) : undefined;
  return byName ? byName.gid : idOf(wanted, 'gid', 'group', db.groupFile);
}

function idOf(wanted: number | string, field: 'uid' | 'gid', kind: string, file: string): number {
  if (typeof wanted === 'string' && !DIGITS.test(wanted)) {
    throw new IdentityError(
      wanted === ''
        ? `${field} is empty: give a ${kind} name or number`
        : `no ${kind} named "${wanted}" in ${file}`,
      field,
    );
  }
  const id = Number(wanted);
  if (!Number.isInteger(id) || id < 0 || id > MAX_ID) {
    throw new IdentityError(`${field} ${wanted} is not a ${kind} id (an integer from 0 to ${MAX_ID})`, field);
  }
  return id;
}

export function readIdentityDatabase(passwdFile = '/etc/passwd', groupFile = '/etc/group'): IdentityDatabase {
  return {
    users: parsePasswd(readFileSync(passwdFile, 'utf8')),
    groups: parseGroup(readFileSync(groupFile, 'utf8')),
    passwdFile,
    groupFile,
  };
}

/**
 * Resolves against this host's files, read on every call: they are small, and a user added
 * while the daemon runs is then found. Throws IdentityError (or a read error) when it cannot.
 */
export function lookupIdentity(request: IdentityRequest): Identity {
  const { uid, gid } = request;
  if (uid === undefined && gid === undefined) return {};
  // Numbers alone (a uid with its gid) need no lookup: ids resolved earlier are not read again.
  const needsFiles =
    typeof uid === 'string' || typeof gid === 'string' || (uid !== undefined && gid === undefined);
  return resolveIdentity(request, needsFiles ? readIdentityDatabase() : NO_ENTRIES);
}

const NO_ENTRIES: IdentityDatabase = {
  users: [],
  groups: [],
  passwdFile: '/etc/passwd',
  groupFile: '/etc/group',
};

/** The ids this process runs with (effective: the ones the kernel checks). */
export interface ProcessIds {
  uid: number;
  gid: number;
}

export function ownIds(): ProcessIds {
  return { uid: process.geteuid!(), gid: process.getegid!() };
}

/**
 * Only root may start a child as someone else: for any other process, setuid()/setgid() to an
 * id not its own fails with EPERM when the child starts. Said at load time instead, by name.
 */
export function checkMaySwitchTo(identity: Identity, self: ProcessIds): void {
  if (self.uid === 0) return;
  const notRoot = `this process runs as uid ${self.uid}, not as root`;
  if (identity.uid !== undefined && identity.uid !== self.uid) {
    throw new IdentityError(`${notRoot}, so it cannot start commands as uid ${identity.uid}`, 'uid');
  }
  if (identity.gid !== undefined && identity.gid !== self.gid) {
    throw new IdentityError(
      `${notRoot}, so it cannot start commands in group ${identity.gid} (its own is ${self.gid})`,
      'gid',
    );
  }
}
