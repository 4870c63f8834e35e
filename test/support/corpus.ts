import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { repoRoot } from './stack';

/** The sample corpus (data/notifications-openstack-26h.jsonl.gz), one notification per element. */
export function sampleCorpus(): string[] {
  return gunzipSync(readFileSync(join(repoRoot, 'data', 'notifications-openstack-26h.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter(Boolean);
}
