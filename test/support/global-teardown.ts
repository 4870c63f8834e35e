import { stackScript } from './stack';

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as Record<string, unknown>).__winchesterTestStack as
    { startedStack: boolean; stopRegistry?: () => Promise<void> } | undefined;
  await state?.stopRegistry?.();
  // Keep a stack the tests did not start, and keep it on request for faster reruns.
  if (state?.startedStack && !process.env.WINCHESTER_KEEP_STACK) stackScript('stop');
}
