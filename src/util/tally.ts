/** Adds `by` to a count kept per key (per trigger, per DLQ reason, …). */
export function tally<K>(counts: Map<K, number>, key: K, by = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}
