import { TransactionConflictError } from './errors';

/** What an attempt returns when a concurrent writer got there first (nothing was written). */
export const CONFLICT: unique symbol = Symbol('conflict');
export type Attempt<T> = T | typeof CONFLICT;

/** The pause after `failed` lost attempts: short, growing, jittered so racers spread out. */
const backOffMs = (failed: number) => Math.min(50, failed * 2 + Math.random() * 5);

/**
 * The one retry policy for optimistic writes (WATCH/MULTI or a compare-and-set script):
 * up to `attempts` tries with a short back-off between them; a lost race is retried or
 * given up with TransactionConflictError, never forced.
 */
export async function retryOnConflict<T>(
  what: string,
  attempts: number,
  attempt: () => Promise<Attempt<T>>,
  onConflict?: () => void,
): Promise<T> {
  for (let n = 1; n <= attempts; n++) {
    const outcome = await attempt();
    if (outcome !== CONFLICT) return outcome;
    onConflict?.();
    if (n < attempts) await new Promise((resolve) => setTimeout(resolve, backOffMs(n)));
  }
  throw new TransactionConflictError(what, attempts);
}
