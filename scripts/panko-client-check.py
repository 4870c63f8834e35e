"""Lists and filters events with pankoclient's library (OpenStack's Panko client) against a /v2
API that holds upstream's gabbi fixture (test/support/panko-gabbi-fixture.ts), as a Panko user
would. Run by scripts/panko-gabbi.sh in its virtualenv.

usage: panko-client-check.py BASE_URL    (exit 0 when every check passes)
"""
import sys

from keystoneauth1 import noauth, session
from pankoclient.v2 import client

COOKIES = ['cookies_chocolate.chip', 'cookies_peanut.butter', 'cookies_sugar']


def check(what, got, expected):
    if got != expected:
        sys.exit('pankoclient check failed: %s: got %r, expected %r' % (what, got, expected))
    print('ok: %s' % what)


def main(base_url):
    panko = client.Client(
        session=session.Session(auth=noauth.NoAuth()),
        endpoint_override=base_url,
        additional_headers={'X-Roles': 'admin', 'X-User-Id': 'user1', 'X-Project-Id': 'project1'})
    events = panko.event.list()
    check('event.list() event types', sorted(e.event_type for e in events), COOKIES)
    check('event.list(limit=2) size', len(panko.event.list(limit=2)), 2)
    page = panko.event.list(limit=2, sorts=['message_id:desc'])
    rest = panko.event.list(marker=page[-1].message_id, sorts=['message_id:desc'])
    check('pages by marker', [e.message_id[-1] for e in page + rest], ['2', '1', '0'])
    sugar = panko.event.list(filters={'event_type': 'cookies_sugar'})
    check('event.list(filters=event_type) ids', [e.message_id for e in sugar],
          ['fea1b15a-1d47-4175-85a5-a4bb2c729242'])
    check('its traits', [(t['name'], t['value'], t['type']) for t in sugar[0].traits],
          [('ate', '2', 'integer'), ('type', 'sugar', 'string')])
    check('event.list(filters=type trait)',
          [e.event_type for e in panko.event.list(filters={'type': 'peanut.butter'})],
          ['cookies_peanut.butter'])
    one = panko.event.get('fea1b15a-1d47-4175-85a5-a4bb2c729240')
    check('event.get() raw', one.raw, {'nested': {'inside': 'value'}})
    check('event_type.list()', panko.event_type.list(), COOKIES)
    check('event_trait_description.list()',
          [(d.name, d.type) for d in panko.event_trait_description.list('cookies_sugar')],
          [('type', 'string'), ('ate', 'integer')])
    check('event_trait.list()', [t.value for t in panko.event_trait.list('cookies_sugar', 'ate')], ['2'])
    check('capabilities.list()', panko.capabilities.list().to_dict(),
          {'api': {'events:query:simple': True}, 'event_storage': {'storage:production_ready': True}})


if __name__ == '__main__':
    main(sys.argv[1])
