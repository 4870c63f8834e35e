import { znodePathProblem } from './paths';

/**
 * A ZooKeeper connect string, `host:port[,host:port...][/chroot]`, checked up front: the
 * client library takes anything and then retries a typo forever. Pure.
 */
export interface ZkServerAddress {
  host: string;
  port: number;
}

export interface ZkConnectTarget {
  servers: ZkServerAddress[];
  /** The chroot suffix, when given: every path the session uses is under it. */
  chroot?: string;
}

export class ZkConnectStringError extends Error {
  override readonly name = 'ZkConnectStringError';
}

export const DEFAULT_ZOOKEEPER_PORT = 2181;

export function parseConnectString(connectString: string): ZkConnectTarget {
  const text = connectString.trim();
  if (text === '') throw new ZkConnectStringError('the ZooKeeper connect string is empty');
  const slash = text.indexOf('/');
  const hostList = slash === -1 ? text : text.slice(0, slash);
  const chroot = slash === -1 || slash === text.length - 1 ? undefined : text.slice(slash);
  const chrootProblem = chroot === undefined ? undefined : znodePathProblem(chroot);
  if (chrootProblem)
    throw new ZkConnectStringError(`ZooKeeper connect string '${text}': chroot ${chrootProblem}`);
  const servers = hostList.split(',').map((entry) => parseServer(entry.trim(), text));
  return chroot ? { servers, chroot } : { servers };
}

function parseServer(entry: string, whole: string): ZkServerAddress {
  const fail = (why: string) =>
    new ZkConnectStringError(
      `ZooKeeper connect string '${whole}': ${why} (expected host:port[,host:port...][/chroot])`,
    );
  if (entry === '') throw fail('an empty server entry');
  // The client splits each entry at ':', so an IPv6 literal cannot be given.
  if (entry.startsWith('['))
    throw fail(`'${entry}': IPv6 literal addresses are not supported, use a host name`);
  const match = /^([^:\s]+)(?::(\d*))?$/.exec(entry);
  if (!match) throw fail(`'${entry}' is not host:port`);
  const host = match[1];
  if (match[2] === undefined) return { host, port: DEFAULT_ZOOKEEPER_PORT };
  const port = Number(match[2]);
  if (match[2] === '' || port < 1 || port > 65535) throw fail(`'${entry}' has no valid port (1-65535)`);
  return { host, port };
}

/** `host:port` as written in logs and messages. */
export function formatServer({ host, port }: ZkServerAddress): string {
  return `${host}:${port}`;
}
