/**
 * The environment a child process starts with, built from an allow-list rather than by removing
 * what looks secret: the worker's environment holds connection strings and credentials
 * (KAFKA_*, REDIS_URL, EVENT_STORE_URL, AMQP_URL, tokens, cloud keys) under names no deny-list
 * can foresee, and a command run for a pipeline needs none of them. Pure: no I/O.
 */

/** Passed from the parent when set there: what programs need to find binaries, text and time. */
export const DEFAULT_PASSED_NAMES: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
];

/** Every LC_* locale category is passed as well. */
export const DEFAULT_PASSED_PREFIXES: readonly string[] = ['LC_'];

/** The variables that describe the account, replaced when the child runs as another user. */
const ACCOUNT_NAMES = ['HOME', 'USER', 'LOGNAME'] as const;

export interface ChildEnvironmentSpec {
  /** More names passed from the parent when set there, on purpose (a credential included). */
  inherit?: readonly string[];
  /** Set as given; wins over everything passed from the parent. */
  set?: Readonly<Record<string, string>>;
  /**
   * The account the child runs as when it is not the parent's: its HOME, USER and LOGNAME
   * replace the parent's (as su and sudo do); null for a uid without a passwd entry, which
   * then gets none of the three. Undefined: the parent's account, whose values are passed.
   */
  account?: { name: string; home: string } | null;
}

export function passedByDefault(name: string): boolean {
  return DEFAULT_PASSED_NAMES.includes(name) || DEFAULT_PASSED_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * The child's whole environment: the defaults and `inherit` from `parent`, the account's
 * variables, then `set`. Nothing else of the parent's reaches the child.
 */
export function childEnvironment(
  parent: Readonly<Record<string, string | undefined>>,
  spec: ChildEnvironmentSpec = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && passedByDefault(name)) env[name] = value;
  }
  if (spec.account !== undefined) {
    for (const name of ACCOUNT_NAMES) delete env[name];
    if (spec.account) Object.assign(env, accountVariables(spec.account));
  }
  for (const name of spec.inherit ?? []) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  return Object.assign(env, spec.set);
}

function accountVariables(account: { name: string; home: string }): Record<string, string> {
  return { USER: account.name, LOGNAME: account.name, ...(account.home !== '' && { HOME: account.home }) };
}

/**
 * Why a name cannot be an environment variable's, or undefined when it can: the kernel's
 * `NAME=value` strings leave no room for `=` or NUL in a name.
 */
export function badVariableName(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name.includes('=')) return `"${name}" contains "="`;
  if (name.includes('\0')) return `"${name.replace(/\0/g, '\\0')}" contains a NUL character`;
  return undefined;
}
