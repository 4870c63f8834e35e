import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accountFor,
  checkMaySwitchTo,
  IdentityDatabase,
  IdentityError,
  lookupIdentity,
  parseGroup,
  parsePasswd,
  readIdentityDatabase,
  resolveIdentity,
} from '../../../src/process/identity';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  '# a comment',
  '',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  'broken line without fields',
  'badid:x:abc:1::/:/bin/sh',
  '+nis',
  'deploy:x:1000:2000:Deploy,,,:/home/deploy:/bin/bash',
  '4321:x:77:78::/:/bin/sh',
  'nobody:x:99:99:a later duplicate:/:/bin/sh',
].join('\n');

const GROUP = ['root:x:0:', 'nogroup:x:65534:', 'deployers:x:2000:deploy,other', 'bad:x::', '# c'].join('\n');

const db: IdentityDatabase = {
  users: parsePasswd(PASSWD),
  groups: parseGroup(GROUP),
  passwdFile: '/etc/passwd',
  groupFile: '/etc/group',
};

describe('parsing /etc/passwd and /etc/group', () => {
  test('entries are read; comments, blanks and malformed lines are skipped', () => {
    expect(db.users).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root' },
      { name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin' },
      { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' },
      { name: 'deploy', uid: 1000, gid: 2000, home: '/home/deploy' },
      { name: '4321', uid: 77, gid: 78, home: '/' },
      { name: 'nobody', uid: 99, gid: 99, home: '/' },
    ]);
    expect(db.groups).toEqual([
      { name: 'root', gid: 0 },
      { name: 'nogroup', gid: 65534 },
      { name: 'deployers', gid: 2000 },
    ]);
  });
});

describe('resolving names and numbers', () => {
  test('nothing asked: nothing changes', () => {
    expect(resolveIdentity({}, db)).toEqual({});
  });

  test('a uid alone takes the user’s primary group, not root’s', () => {
    expect(resolveIdentity({ uid: 'nobody' }, db)).toEqual({ uid: 65534, gid: 65534 });
    expect(resolveIdentity({ uid: 'deploy' }, db)).toEqual({ uid: 1000, gid: 2000 });
    expect(resolveIdentity({ uid: 1000 }, db)).toEqual({ uid: 1000, gid: 2000 });
    expect(resolveIdentity({ uid: '65534' }, db)).toEqual({ uid: 65534, gid: 65534 });
  });

  test('an explicit gid wins; a gid alone changes only the group', () => {
    expect(resolveIdentity({ uid: 'nobody', gid: 'root' }, db)).toEqual({ uid: 65534, gid: 0 });
    expect(resolveIdentity({ uid: 'deploy', gid: 5 }, db)).toEqual({ uid: 1000, gid: 5 });
    expect(resolveIdentity({ gid: 'nogroup' }, db)).toEqual({ gid: 65534 });
    expect(resolveIdentity({ gid: '2000' }, db)).toEqual({ gid: 2000 });
  });

  test('a name is looked up before a number; the first entry of a name wins', () => {
    expect(resolveIdentity({ uid: '4321' }, db)).toEqual({ uid: 77, gid: 78 });
    expect(resolveIdentity({ uid: 4321, gid: 1 }, db)).toEqual({ uid: 4321, gid: 1 });
    expect(resolveIdentity({ uid: 'nobody' }, db).uid).toBe(65534);
  });

  test('a listed number needs no name; an unlisted uid needs a gid', () => {
    expect(resolveIdentity({ uid: 4242, gid: 4242 }, db)).toEqual({ uid: 4242, gid: 4242 });
    expect(() => resolveIdentity({ uid: 4242 }, db)).toThrow(
      new IdentityError(
        'uid 4242 has no entry in /etc/passwd, so it has no primary group: give a gid as well',
        'uid',
      ),
    );
  });

  test('unknown names and impossible ids are clear errors', () => {
    const error = (request: Parameters<typeof resolveIdentity>[0]) => {
      try {
        resolveIdentity(request, db);
      } catch (e) {
        expect(e).toBeInstanceOf(IdentityError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(error({ uid: 'bob' })).toBe('no user named "bob" in /etc/passwd');
    expect(error({ uid: 'nobody', gid: 'wheel' })).toBe('no group named "wheel" in /etc/group');
    expect(error({ uid: '' })).toBe('uid is empty: give a user name or number');
    expect(error({ uid: -1 })).toBe('uid -1 is not a user id (an integer from 0 to 4294967294)');
    expect(error({ gid: 1.5 })).toBe('gid 1.5 is not a group id (an integer from 0 to 4294967294)');
    expect(error({ uid: 4294967295, gid: 0 })).toMatch(/^uid 4294967295 is not a user id/);
    expect(error({ uid: ' 12' })).toBe('no user named " 12" in /etc/passwd');
  });
});

describe('reading the files', () => {
  test('readIdentityDatabase names its files in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'winchester-identity-'));
    try {
      writeFileSync(join(dir, 'passwd'), PASSWD);
      writeFileSync(join(dir, 'group'), GROUP);
      const fromFiles = readIdentityDatabase(join(dir, 'passwd'), join(dir, 'group'));
      expect(fromFiles.users).toEqual(db.users);
      expect(() => resolveIdentity({ gid: 'staff' }, fromFiles)).toThrow(
        `no group named "staff" in ${join(dir, 'group')}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('this host: nobody and nogroup', () => {
    expect(lookupIdentity({ uid: 'nobody' })).toEqual({ uid: 65534, gid: 65534 });
    expect(lookupIdentity({ uid: 'root', gid: 'nogroup' })).toEqual({ uid: 0, gid: 65534 });
    expect(lookupIdentity({})).toEqual({});
    expect(() => lookupIdentity({ uid: 'no-such-user-here' })).toThrow(IdentityError);
  });
});

describe('the account of a user request', () => {
  test('by name first, then by number; undefined when passwd does not list it', () => {
    expect(accountFor('deploy', db)).toEqual({ name: 'deploy', uid: 1000, gid: 2000, home: '/home/deploy' });
    expect(accountFor(65534, db)?.name).toBe('nobody');
    expect(accountFor('65534', db)?.home).toBe('/nonexistent');
    expect(accountFor('4321', db)?.uid).toBe(77);
    expect(accountFor(4242, db)).toBeUndefined();
    expect(accountFor('bob', db)).toBeUndefined();
  });
});

describe('who may start a child as whom', () => {
  const failure = (identity: Parameters<typeof checkMaySwitchTo>[0], self: { uid: number; gid: number }) => {
    try {
      checkMaySwitchTo(identity, self);
    } catch (e) {
      expect(e).toBeInstanceOf(IdentityError);
      return { field: (e as IdentityError).field, message: (e as Error).message };
    }
    return undefined;
  };

  test('root may switch to anyone', () => {
    expect(failure({ uid: 65534, gid: 65534 }, { uid: 0, gid: 0 })).toBeUndefined();
    expect(failure({ gid: 5 }, { uid: 0, gid: 1 })).toBeUndefined();
  });

  test('another process only to its own ids', () => {
    const self = { uid: 1000, gid: 2000 };
    expect(failure({}, self)).toBeUndefined();
    expect(failure({ uid: 1000, gid: 2000 }, self)).toBeUndefined();
    expect(failure({ uid: 65534, gid: 65534 }, self)).toEqual({
      field: 'uid',
      message: 'this process runs as uid 1000, not as root, so it cannot start commands as uid 65534',
    });
    expect(failure({ uid: 1000, gid: 0 }, self)).toEqual({
      field: 'gid',
      message:
        'this process runs as uid 1000, not as root, so it cannot start commands in group 0 (its own is 2000)',
    });
  });
});
