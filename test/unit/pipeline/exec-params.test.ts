import { HandlerParamsError } from '../../../src/pipeline/handler';
import { ExecHost, readExecParams } from '../../../src/pipeline/handlers/exec';
import { builtinHandlerMap } from '../../../src/pipeline/handlers/index';
import { readPipelines } from '../../../src/pipeline/pipelines-file';
import { parseGroup, parsePasswd } from '../../../src/process/identity';
import { formatProblem } from '../../../src/triggers';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  'billing:x:1200:1300:Billing:/srv/billing:/bin/sh',
  'deploy:x:1000:1000::/home/deploy:/bin/sh',
].join('\n');
const GROUP = ['root:x:0:', 'nogroup:x:65534:', 'billing:x:1300:', 'deploy:x:1000:'].join('\n');

/** This host's files replaced by the ones above; the worker runs as root unless told otherwise. */
function host(self = { uid: 0, gid: 0 }): ExecHost {
  return {
    identities: () => ({
      users: parsePasswd(PASSWD),
      groups: parseGroup(GROUP),
      passwdFile: '/etc/passwd',
      groupFile: '/etc/group',
    }),
    self: () => self,
  };
}

const read = (params: Record<string, unknown>, self?: { uid: number; gid: number }) =>
  readExecParams({ command: ['report'], ...params }, host(self));

function refusal(params: Record<string, unknown>, self?: { uid: number; gid: number }): string {
  try {
    read(params, self);
  } catch (error) {
    expect(error).toBeInstanceOf(HandlerParamsError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(params)}`);
}

describe('exec params: the command', () => {
  test('a string stays a shell command, a list an argv: as before', () => {
    expect(read({ command: 'report | tee out' }).command).toBe('report | tee out');
    expect(read({ command: ['report', '$HOME;', '|'] }).command).toEqual(['report', '$HOME;', '|']);
  });

  test('the new params are known, and listed when a param is not', () => {
    expect(refusal({ shell: true })).toBe(
      'handler exec: unknown param shell (known: command, cwd, env, event_types, group, inherit_env, kill_after, timeout, user)',
    );
  });
});

describe('exec params: the environment', () => {
  test('by default nothing is inherited beyond the allow-list and nothing is set', () => {
    expect(read({})).toMatchObject({ env: {}, inheritEnv: [], runAs: {} });
  });

  test('env values become strings; inherit_env is a list of names or one name', () => {
    const options = read({ env: { N: 5, B: true, S: 'x' }, inherit_env: ['REDIS_URL', 'HTTPS_PROXY'] });
    expect(options.env).toEqual({ N: '5', B: 'true', S: 'x' });
    expect(options.inheritEnv).toEqual(['REDIS_URL', 'HTTPS_PROXY']);
    expect(read({ inherit_env: 'AMQP_URL' }).inheritEnv).toEqual(['AMQP_URL']);
  });

  test('names that cannot be variables, and the run’s own variables, are refused', () => {
    expect(refusal({ env: { 'A=B': 'x' } })).toBe(
      'handler exec: param env: "A=B" contains "=" is not a variable name',
    );
    expect(refusal({ env: { '': 'x' } })).toBe(
      'handler exec: param env: an empty name is not a variable name',
    );
    expect(refusal({ inherit_env: ['PATH', 'X=1'] })).toBe(
      'handler exec: param inherit_env: "X=1" contains "=" is not a variable name',
    );
    expect(refusal({ env: { WINCHESTER_STREAM_ID: 'x' } })).toBe(
      'handler exec: param env: WINCHESTER_STREAM_ID is set by the handler for every run',
    );
    expect(refusal({ inherit_env: ['WINCHESTER_TRIGGER'] })).toBe(
      'handler exec: param inherit_env: WINCHESTER_TRIGGER is set by the handler for every run',
    );
  });

  test('bad values and shapes are refused', () => {
    expect(refusal({ env: { A: 'x\0y' } })).toBe(
      'handler exec: param env: the value of A contains a NUL character',
    );
    expect(refusal({ inherit_env: ['A', 1] })).toBe(
      'handler exec: param inherit_env: expected a string or a list of strings, got a list (["A",1])',
    );
    expect(refusal({ inherit_env: { A: 1 } })).toMatch(
      /^handler exec: param inherit_env: expected a string or a list/,
    );
    expect(refusal({ env: { A: 'x' }, inherit_env: ['A'] })).toBe(
      'handler exec: param inherit_env: A is also set by env: keep one of them',
    );
  });
});

describe('exec params: user and group', () => {
  test('a user by name runs with its primary group and account, in / unless cwd is given', () => {
    const options = read({ user: 'billing' });
    expect(options.runAs).toEqual({
      uid: 1200,
      gid: 1300,
      account: { name: 'billing', home: '/srv/billing' },
    });
    expect(options.cwd).toBe('/');
    expect(read({ user: 'billing', cwd: '/srv/billing' }).cwd).toBe('/srv/billing');
  });

  test('numbers, numeric strings, and a group of its own', () => {
    expect(read({ user: 65534, group: 'billing' }).runAs).toEqual({
      uid: 65534,
      gid: 1300,
      account: { name: 'nobody', home: '/nonexistent' },
    });
    expect(read({ user: '1000' }).runAs).toMatchObject({ uid: 1000, gid: 1000, account: { name: 'deploy' } });
    // A uid passwd does not list: no account, so no HOME, USER or LOGNAME.
    expect(read({ user: 4242, group: 4343 }).runAs).toEqual({ uid: 4242, gid: 4343, account: null });
  });

  test('a group alone changes the group only: the worker’s uid, account and directory', () => {
    const options = read({ group: 'nogroup' });
    expect(options.runAs).toEqual({ gid: 65534 });
    expect(options.cwd).toBeUndefined();
  });

  test('unknown names fail at load, naming the param and the file', () => {
    expect(refusal({ user: 'ghost' })).toBe('handler exec: param user: no user named "ghost" in /etc/passwd');
    expect(refusal({ user: 'nobody', group: 'wheel' })).toBe(
      'handler exec: param group: no group named "wheel" in /etc/group',
    );
    expect(refusal({ user: 4242 })).toBe(
      'handler exec: param user: uid 4242 has no entry in /etc/passwd, so it has no primary group: give a gid as well',
    );
  });

  test('values that are not names or ids', () => {
    for (const user of [true, -1, 1.5, '', ['nobody'], { name: 'nobody' }]) {
      expect(refusal({ user })).toMatch(
        /^handler exec: param user: expected a user name or a uid \(an integer >= 0\)/,
      );
    }
    expect(refusal({ group: false })).toMatch(/^handler exec: param group: expected a group name or a gid/);
    expect(refusal({ user: 4294967295, group: 0 })).toBe(
      'handler exec: param user: uid 4294967295 is not a user id (an integer from 0 to 4294967294)',
    );
  });

  test('a worker that is not root may only name itself', () => {
    const deploy = { uid: 1000, gid: 1000 };
    expect(read({ user: 'deploy' }, deploy).runAs).toMatchObject({ uid: 1000, gid: 1000 });
    expect(read({ group: 1000 }, deploy).runAs).toEqual({ gid: 1000 });
    expect(refusal({ user: 'nobody' }, deploy)).toBe(
      'handler exec: param user: this process runs as uid 1000, not as root, so it cannot start commands as uid 65534',
    );
    expect(refusal({ user: 'deploy', group: 'billing' }, deploy)).toBe(
      'handler exec: param group: this process runs as uid 1000, not as root, ' +
        'so it cannot start commands in group 1300 (its own is 1000)',
    );
  });

  test('a host whose passwd cannot be read: a load error, not a crash', () => {
    const unreadable: ExecHost = {
      identities: () => {
        throw new Error("ENOENT: no such file or directory, open '/etc/passwd'");
      },
      self: () => ({ uid: 0, gid: 0 }),
    };
    expect(() => readExecParams({ command: 'x', group: 'staff' }, unreadable)).toThrow(
      "handler exec: param group: ENOENT: no such file or directory, open '/etc/passwd'",
    );
    expect(() => readExecParams({ command: 'x', user: 0 }, unreadable)).toThrow(
      "handler exec: param user: ENOENT: no such file or directory, open '/etc/passwd'",
    );
  });
});

describe('exec params in pipelines.yaml', () => {
  test('an unknown user on this host fails the load with the file and the line of its params', () => {
    const text = [
      'notify:',
      '  - logger',
      '  - name: exec',
      '    params:',
      '      command: [/usr/local/bin/notify]',
      '      user: no-such-user-on-this-host',
    ].join('\n');
    const result = readPipelines(text, 'pipelines.yaml', builtinHandlerMap());
    expect(result.errors.map(formatProblem)).toEqual([
      "pipelines.yaml:4: pipeline 'notify': handler 'exec': handler exec: param user: " +
        'no user named "no-such-user-on-this-host" in /etc/passwd',
    ]);
  });

  test('this host: nobody resolves from /etc/passwd', () => {
    const options = readExecParams({ command: 'id', user: 'nobody', inherit_env: ['REDIS_URL'] });
    expect(options.runAs).toEqual({
      uid: 65534,
      gid: 65534,
      account: { name: 'nobody', home: '/nonexistent' },
    });
  });
});
