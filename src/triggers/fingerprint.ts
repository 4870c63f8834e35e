import { createHash } from 'node:crypto';
import { DistinguishingTrait } from './definition';

/**
 * A short digest of a trigger's `distinguished_by`: 8 hex digits of the sha256 of its canonical
 * JSON, `[["name", "timex source" or null], …]` sorted by name (reordering the list keeps the
 * streams, as it keeps their keys). Two versions of a trigger with different fingerprints never
 * share a stream, even when an event's stream key comes out the same under both.
 */
export function distinguishedByFingerprint(distinguishedBy: readonly DistinguishingTrait[]): string {
  const canonical = [...distinguishedBy]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((d) => [d.name, d.expression === null ? null : d.expression.source]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 8);
}
