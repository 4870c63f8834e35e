#!/usr/bin/env python3
"""Builds the notification corpus of the upstream Winchester comparison
(test/fixtures/upstream-winchester/notifications.jsonl).

Two parts, merged in timestamp order:
  - every notification of a few instances of the 26-hour corpus, chosen by rule (each kind of
    life: built, failing to build, deleted, audited once or twice, audited for the previous day,
    never audited), cut down to the fields the fixture's event definitions read;
  - synthetic `monitor.cpu.sample` / `monitor.cpu.summary` notifications (float, int and text
    traits, a mapped distinguishing trait, an event exactly at a stream's expire time and one
    exactly at its fire time), from a fixed seed.

Timestamps are made unique (a tie gets a microsecond more per earlier equal time): upstream
orders a stream's events by time and leaves ties to the database, so a tie inside a stream would
make the expected order arbitrary. A few verbatim duplicates are appended at the end: both
engines must ignore them.

Deterministic: rerun it only to change the corpus, then rerun make-winchester-vectors.sh.
Run from the repository root. Usage: make_winchester_corpus.py [SOURCE.jsonl.gz] [OUTPUT.jsonl]
"""
import collections
import datetime
import gzip
import json
import random
import sys

SOURCE = sys.argv[1] if len(sys.argv) > 1 else 'data/notifications-openstack-26h.jsonl.gz'
OUTPUT = sys.argv[2] if len(sys.argv) > 2 else 'test/fixtures/upstream-winchester/notifications.jsonl'

# How many instances of each kind (see kind()) to take, the first ones by instance id.
PICK = {
    ('', '', 0, False, False): 2,
    ('', '', 0, False, True): 2,
    ('', '', 1, False, False): 4,
    ('', '', 1, False, True): 2,
    ('', '', 1, True, False): 1,
    ('', '', 2, False, False): 2,
    ('', '', 2, True, False): 3,
    ('', 'create', 0, False, False): 2,
    ('', 'create', 1, False, False): 4,
    ('err', 'create', 0, False, False): 1,
    ('err', 'create', 1, False, False): 1,
}
KEEP = ('event_type', 'message_id', 'timestamp', 'publisher_id', 'priority', '_context_request_id',
        '_context_tenant')
KEEP_PAYLOAD = ('tenant_id', 'user_id', 'instance_id', 'memory_mb', 'disk_gb', 'root_gb', 'ephemeral_gb',
                'vcpus', 'instance_type_id', 'instance_type', 'state', 'image_meta', 'launched_at',
                'deleted_at', 'audit_period_beginning', 'audit_period_ending')
KEEP_IMAGE = ('org.openstack__1__architecture', 'org.openstack__1__os_version', 'org.openstack__1__os_distro')
FMT = '%Y-%m-%d %H:%M:%S.%f'


def parse_time(text):
    return datetime.datetime.strptime(text if '.' in text else text + '.0', FMT)


def kind(notifications):
    types = collections.Counter(n['event_type'] for n in notifications)
    exists = [n for n in notifications if n['event_type'] == 'compute.instance.exists']
    return ('err' if any(t.endswith('error') for t in types) else '',
            'create' if 'compute.instance.create.start' in types else '',
            len(exists),
            any(n['payload']['audit_period_beginning'].startswith('2026-10-31') for n in exists),
            'compute.instance.delete.end' in types)


def slim(n):
    out = {k: n[k] for k in KEEP if k in n}
    payload = {k: n['payload'][k] for k in KEEP_PAYLOAD if k in n['payload']}
    if isinstance(payload.get('image_meta'), dict):
        payload['image_meta'] = {k: payload['image_meta'][k] for k in KEEP_IMAGE if k in payload['image_meta']}
    out['payload'] = payload
    return out


def derived():
    with gzip.open(SOURCE, 'rt', encoding='utf-8') as f:
        rows = [json.loads(line) for line in f if line.strip()]
    by_instance = collections.defaultdict(list)
    for n in rows:
        if n['payload'].get('instance_id'):
            by_instance[n['payload']['instance_id']].append(n)
    wanted = dict(PICK)
    chosen = []
    for instance in sorted(by_instance):
        k = kind(by_instance[instance])
        if wanted.get(k, 0) > 0:
            wanted[k] -= 1
            chosen.append(instance)
    return [slim(n) for instance in chosen for n in by_instance[instance]], len(chosen)


def monitor_notification(rng, event_type, when, payload):
    return {
        'event_type': event_type,
        'message_id': '%08x-%04x-4%03x-8%03x-%012x' % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                                      rng.getrandbits(12), rng.getrandbits(48)),
        'timestamp': when.strftime(FMT),
        'publisher_id': 'monitor.collector-1',
        'priority': 'INFO',
        'payload': payload,
    }


def synthetic():
    """Samples in bursts per host (gaps longer than cpu_hot's 15 minutes reopen streams) and a
    summary per burst reported by a collector about the host (`node`)."""
    rng = random.Random(20261101)
    start = datetime.datetime(2026, 11, 1, 0, 30)
    hosts = (('host-a', 'north', 1), ('host-b', 'north', 1), ('host-c', 'south', 2))
    out = []
    for h, (host, region, tier) in enumerate(hosts):
        for burst in range(4):
            t = start + datetime.timedelta(hours=2 + 6 * burst + 2 * h, minutes=rng.randrange(60))
            hot = burst % 2 == 0
            for sample_no in range(rng.randrange(6, 11)):
                t += datetime.timedelta(minutes=rng.randrange(3, 9), microseconds=rng.randrange(1000000))
                util = rng.uniform(90, 100) if hot else rng.uniform(60, 97)
                out.append(monitor_notification(rng, 'monitor.cpu.sample', t, {
                    'host': host, 'region': region, 'cpu_util': round(util, 2), 'sample_no': sample_no,
                    'tier': tier}))
            t += datetime.timedelta(minutes=5)
            out.append(monitor_notification(rng, 'monitor.cpu.summary', t, {
                'host': 'collector-1', 'node': host, 'region': region, 'cpu_util': round(rng.uniform(60, 99), 2),
                'tier': float(tier)}))
    # Boundaries on host-a's day-2 stream, away from the bursts: samples at 01:00, 01:05, 01:10
    # (three > 95: ready to fire at 01:10 + fire_delay 60 s); one exactly at that fire time joins
    # it; the stream fires. Then 01:40 opens a stream that expires at 01:55, and one exactly at
    # 01:55 does not join it but opens the next.
    base = datetime.datetime(2026, 11, 2, 1, 0)
    for minutes, seconds, util in ((0, 0, 97.5), (5, 0, 98.25), (10, 0, 99.0), (11, 0, 85.5), (40, 0, 88.0),
                                   (55, 0, 91.0)):
        out.append(monitor_notification(rng, 'monitor.cpu.sample', base + datetime.timedelta(
            minutes=minutes, seconds=seconds), {'host': 'host-a', 'region': 'north', 'cpu_util': util,
                                                'sample_no': 100 + minutes, 'tier': 1}))
    # Two hot samples of host-c just before the input ends: cpu_confirm's stream is ready to
    # fire an hour later but expires after 30 minutes, and only the drain passes both times.
    for minute in (58, 59):
        out.append(monitor_notification(rng, 'monitor.cpu.sample', datetime.datetime(2026, 11, 2, 1, minute), {
            'host': 'host-c', 'region': 'south', 'cpu_util': 99.5, 'sample_no': 200 + minute, 'tier': 2}))
    return out


def main():
    real, instances = derived()
    fake = synthetic()
    notifications = sorted(real + fake, key=lambda n: parse_time(n['timestamp']))
    seen = collections.Counter()
    for n in notifications:
        t = parse_time(n['timestamp'])
        while seen[t]:
            t += datetime.timedelta(microseconds=1)
        seen[t] += 1
        n['timestamp'] = t.strftime(FMT)
    # Redelivered copies: already seen, so ignored whatever their place.
    duplicates = [notifications[i] for i in (10, len(notifications) // 2, len(notifications) - 5)]
    with open(OUTPUT, 'w', encoding='utf-8') as f:
        for n in notifications + duplicates:
            f.write(json.dumps(n, sort_keys=True) + '\n')
    sys.stderr.write('%d notifications (%d from %d instances, %d synthetic, %d duplicates) -> %s\n'
                     % (len(notifications) + len(duplicates), len(real), instances, len(fake), len(duplicates),
                        OUTPUT))


if __name__ == '__main__':
    main()
