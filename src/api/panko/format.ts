import { STORE_CAPABILITIES } from '../../store/model';

/**
 * Panko's shapes for capabilities and its versions document, keys in its order; events, traits
 * and trait descriptions are in store/panko-format.ts (shared with `winchester events`).
 */

/** `{a: {b: {c: true}}}` → `{"a:b:c": true}`, keys sorted. */
function flatten(nested: object, prefix = ''): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(nested)) {
    const name = prefix ? `${prefix}:${key}` : key;
    if (value !== null && typeof value === 'object') Object.assign(flat, flatten(value, name));
    else flat[name] = value;
  }
  return Object.fromEntries(Object.entries(flat).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export const capabilitiesView = (storage: object) => ({
  api: flatten(STORE_CAPABILITIES),
  event_storage: flatten(storage),
});

/** The versions document at `/`; `base` is the API's own address (scheme and host). */
export const versionsView = (base: string) => ({
  versions: {
    values: [
      {
        id: 'v2',
        links: [
          { href: `${base}/v2`, rel: 'self' },
          { href: 'https://docs.openstack.org/', rel: 'describedby', type: 'text/html' },
        ],
        'media-types': [
          { base: 'application/json', type: 'application/vnd.openstack.telemetry-v2+json' },
          { base: 'application/xml', type: 'application/vnd.openstack.telemetry-v2+xml' },
        ],
        status: 'stable',
        updated: '2013-02-13T00:00:00Z',
      },
    ],
  },
});
