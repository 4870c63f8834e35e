/**
 * ZooKeeper path rules (those of the server's PathUtils), checked before a request is sent so
 * a bad znode name is one clear message instead of the server's bare BAD_ARGUMENTS. Pure: no
 * client library here, so configuration parsers may use it.
 */

/** Characters the server refuses in a path: controls, surrogates, private use, specials. */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARACTER = /[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/;

/** Why `path` is not a valid absolute znode path, or undefined when it is one. */
export function znodePathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'a znode path must be a non-empty string';
  if (!path.startsWith('/')) return `znode path '${path}' must start with '/'`;
  if (path === '/') return undefined;
  if (path.endsWith('/')) return `znode path '${path}' must not end with '/'`;
  const forbidden = FORBIDDEN_CHARACTER.exec(path);
  if (forbidden) {
    const code = forbidden[0].codePointAt(0)!.toString(16).padStart(4, '0');
    return `znode path ${JSON.stringify(path)} contains a character ZooKeeper refuses (U+${code})`;
  }
  for (const name of path.slice(1).split('/')) {
    if (name === '') return `znode path '${path}' has an empty name (two '/' in a row)`;
    if (name === '.' || name === '..') return `znode path '${path}' must not contain '.' or '..'`;
  }
  return undefined;
}

export class ZnodePathError extends Error {
  override readonly name = 'ZnodePathError';
}

/** Returns `path` when valid; throws ZnodePathError saying what is wrong otherwise. */
export function checkZnodePath(path: string): string {
  const problem = znodePathProblem(path);
  if (problem) throw new ZnodePathError(problem);
  return path;
}

/** The parent of an absolute znode path ('/' for a top-level node and for '/' itself). */
export function parentZnode(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}
