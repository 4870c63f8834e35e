import { fnmatchToRegExp } from '../../distiller/python';

/**
 * Upstream's `event_types` selection: shell globs (fnmatch), a leading `!` excludes; with only
 * exclusions everything else is included; no list at all includes everything.
 */
export class EventTypeFilter {
  private readonly included: RegExp[];
  private readonly excluded: RegExp[];

  constructor(readonly patterns: readonly string[] = []) {
    const included: string[] = [];
    const excluded: string[] = [];
    for (const p of patterns)
      (p.startsWith('!') ? excluded : included).push(p.startsWith('!') ? p.slice(1) : p);
    if (!included.length) included.push('*');
    this.included = included.map(fnmatchToRegExp);
    this.excluded = excluded.map(fnmatchToRegExp);
  }

  matches(eventType: string): boolean {
    return this.included.some((r) => r.test(eventType)) && !this.excluded.some((r) => r.test(eventType));
  }
}
