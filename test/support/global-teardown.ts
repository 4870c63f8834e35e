import type { StartedServices } from './global-setup';
import { serviceScript } from './stack';

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as Record<string, unknown>).__winchesterTestStack as StartedServices | undefined;
  // Keep what the tests did not start, and keep it on request for faster reruns.
  if (!state || process.env.WINCHESTER_KEEP_STACK) return;
  for (const service of state.started) serviceScript(service, 'stop');
}
