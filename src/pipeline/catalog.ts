import { StreamRecord } from '../streams/model';
import { HandlerDefinition } from './handler';
import { RetryPolicy } from './retry';
import { PipelineStep } from './runner';

/*
 * Pipelines by topology version. A stream runs the pipelines of the version its record names
 * (the one current at the matcher when the stream fired or expired), so a record delivered
 * again, or retried, runs what it first ran whatever has been applied since. Pure: the
 * topology follower (src/topology/versions/) is the catalog the roles use.
 */

/** One topology version's pipelines, the handler kinds they use and their retry policies. */
export interface PipelineSet {
  pipelines: ReadonlyMap<string, PipelineStep[]>;
  handlers: ReadonlyMap<string, HandlerDefinition>;
  retries?: ReadonlyMap<string, RetryPolicy>;
}

/**
 * Every version a role can run, by number (0: the role's own `-t DIR` bundle). A topology
 * follower is one: `current` is the version it runs, `topologyOf` loads any version applied.
 */
export interface PipelineCatalog {
  readonly current: { readonly version: number };
  /** The version's pipelines; undefined (or a throw, which says why) when it cannot be loaded. */
  topologyOf(version: number): PipelineSet | undefined | Promise<PipelineSet | undefined>;
}

/** A role that follows no version log: its one bundle is version `version`, and the current one. */
export function singleVersionCatalog(set: PipelineSet, version = 0): PipelineCatalog {
  return {
    current: { version },
    topologyOf: (asked) => (asked === version ? set : undefined),
  };
}

/** Why a stream record's pipelines cannot be run: its run fails as a failing handler's would. */
export class PipelineVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PipelineVersionError';
  }

  static unloadable(version: unknown, reason: string): PipelineVersionError {
    // A garbled value comes from the record: shown short, whatever it holds.
    const text = typeof version === 'number' ? String(version) : JSON.stringify(version);
    const shown = text.length > 64 ? `${text.slice(0, 63)}…` : text;
    return new PipelineVersionError(`pipeline version ${shown} cannot be loaded: ${reason}`);
  }
}

/** What a stream record runs: its version's pipelines, or why they cannot run. */
export interface VersionedPipelines {
  /** The version the record runs; undefined for a record whose version is not a version number. */
  version?: number;
  /** Absent when `error` is set. */
  set?: PipelineSet;
  error?: PipelineVersionError;
  /** The retry policies its failures follow: its version's, else the current version's (the best known). */
  retries?: ReadonlyMap<string, RetryPolicy>;
}

const isVersionNumber = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * The pipelines a stream record runs: those of the version it names, or of the catalog's
 * current version for a record without one (a matcher from before versions). A version that
 * cannot be loaded is an error for the stream's run to report, never a throw.
 */
export async function pipelinesFor(
  record: StreamRecord,
  catalog: PipelineCatalog,
): Promise<VersionedPipelines> {
  const named = record.pipeline_version;
  if (named !== undefined && !isVersionNumber(named)) {
    const error = PipelineVersionError.unloadable(named, 'the stream record names no version number');
    return { error, retries: await currentRetries(catalog) };
  }
  const version = named ?? catalog.current.version;
  const loaded = await loadVersion(catalog, version);
  if (loaded instanceof Error) {
    const error = PipelineVersionError.unloadable(version, loaded.message);
    return { version, error, retries: await currentRetries(catalog) };
  }
  return { version, set: loaded, retries: loaded.retries };
}

async function loadVersion(catalog: PipelineCatalog, version: number): Promise<PipelineSet | Error> {
  try {
    const set = await catalog.topologyOf(version);
    return set ?? new Error('no such version is known');
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

async function currentRetries(catalog: PipelineCatalog): Promise<PipelineSet['retries']> {
  const current = await loadVersion(catalog, catalog.current.version);
  return current instanceof Error ? undefined : current.retries;
}

/**
 * The pipeline a record names that its version does not define (a trigger opened under an
 * earlier version, whose pipeline was removed since): it completes with nothing run, as a
 * trigger without a pipeline does, and the worker says so.
 */
export function undefinedPipeline(record: StreamRecord, versioned: VersionedPipelines): string | undefined {
  const { pipeline } = record;
  return pipeline !== null && versioned.set && !versioned.set.pipelines.has(pipeline) ? pipeline : undefined;
}
