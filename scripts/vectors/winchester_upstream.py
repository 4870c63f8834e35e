#!/usr/bin/env python3
"""Runs upstream Winchester (trigger manager + pipeline manager, SQLite) over notifications
under an event clock, the way `winchester simulate --clock event --drain` runs ours.

The clock follows the distilled events' timestamps and never goes back. Before an event whose
timestamp moves the clock forward is added, the pipeline manager processes ready streams with
its current time set to the new clock: every stream due to fire, then every stream due to
expire (strictly before the clock, as upstream's queries compare), batch after batch until none
is left. This is what upstream's time_sync service gave a pipeline worker that polls after
every notification. At the end of input the clock goes past every fire and expire time and the
same pass runs once more (the drain). With --polling the clock also stops just after every fire
and expire time on its way to the next event's time (or through the drain), with a pass each
time: a worker polling all along.

vectors mode (default): prints every stream that fired or expired, one JSON line each, in the
format of `winchester simulate` ({"kind", "trigger", "pipeline", "distinguished_by",
"message_ids"}), sorted, so the file is stable however upstream orders its work.

bench mode (--bench): prints one JSON line {"notifications", "seconds", "perSecond"}: the time
upstream takes to read, distill and add the notifications (SQLite) with the fire/expire passes
as the clock moves; the drain is not counted. Details go to stderr.

Upstream is Python 2 code: it is copied to a temporary directory, made to run on Python 3 by
the textual fixes in PY3_FIXES (each must apply, so a different source fails loudly), and
imported from there. Run it with the virtualenv of winchester-venv.sh; the tests do not need it.

The source is the winchester 0.56 release from PyPI (stacktach-winchester b6dc37a) or a checkout
of the repository's last commit with code (54f3ffc). What the later commits changed does not
reach this driver: the AtomPub handler and event trimming (unused here), reconnecting when MySQL
goes away, and save_event skipping None-valued traits and logging traits of unknown type instead
of failing, neither of which StackDistiller produces (it drops None values and converts every
trait to text, int, float or datetime). Both give the same vectors.
"""
import argparse
import datetime
import gzip
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import types
import warnings

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from distill_upstream import js_number, js_string  # noqa: E402  (JS number and string printing)

log = logging.getLogger('winchester_upstream')

# Python 2 spellings in upstream Winchester that Python 3 refuses, and their Python 3 form.
# Behaviour is unchanged: dict views become lists where upstream indexed or added them, and the
# py2 str/unicode/long types become str/int.
PY3_FIXES = {
    'winchester/config.py': [
        ('isinstance(item, collections.Sequence)', 'isinstance(item, collections.abc.Sequence)'),
        ('isinstance(item, basestring)', 'isinstance(item, str)'),
        ('class ConfigSection(collections.Mapping)', 'class ConfigSection(collections.abc.Mapping)'),
        ('class ConfigManager(collections.Mapping)', 'class ConfigManager(collections.abc.Mapping)'),
        ('set(self._defaults.keys() + self._configs.keys())',
         'set(list(self._defaults.keys()) + list(self._configs.keys()))'),
        ('import collections\n', 'import collections\nimport collections.abc\n'),
    ],
    'winchester/definition.py': [
        ('import collections\n', 'import collections\nimport collections.abc\n'),
        ('collections.Mapping', 'collections.abc.Mapping'),
        ('expression.keys()[0]', 'list(expression.keys())[0]'),
        ('dt.keys()[0]', 'list(dt.keys())[0]'),
    ],
    'winchester/models.py': [
        ('PY_TYPE_MAP = {unicode: Datatype.string,', 'PY_TYPE_MAP = {str: Datatype.string,'),
        ("if isinstance(value, str):\n            value = value.decode('utf8', 'ignore')",
         "if isinstance(value, bytes):\n            value = value.decode('utf8', 'ignore')"),
    ],
}

# Text that only one of the two known sources has, fixed where present: the last commit's `long` in
# the type map (b5191bb added it after the 0.56 release), and timex 0.20.0's undefined
# `microsecond` in Duration.in_context (NameError for a bare number on a range shorter than a
# minute; the commit after the release quoted it, as make-timex-vectors.sh does).
FIXES_IF_PRESENT = {
    'winchester/models.py': [
        ('                   long: Datatype.int,\n', ''),
    ],
    'timex/expression.py': [
        ('            unit = microsecond\n', "            unit = 'microsecond'\n"),
    ],
}


def py3_copy(winchester_src, timex_src, dest):
    """Copies the winchester and timex packages into dest and applies PY3_FIXES and FIXES_IF_PRESENT."""
    shutil.copytree(os.path.join(winchester_src, 'winchester'), os.path.join(dest, 'winchester'))
    shutil.copytree(os.path.join(timex_src, 'timex'), os.path.join(dest, 'timex'))
    for name in sorted(set(PY3_FIXES) | set(FIXES_IF_PRESENT)):
        path = os.path.join(dest, name)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for old, new in PY3_FIXES.get(name, []):
            if old not in text:
                raise SystemExit('%s: cannot apply the Python 3 fix for %r: not a source this driver knows'
                                 % (name, old))
            text = text.replace(old, new)
        for old, new in FIXES_IF_PRESENT.get(name, []):
            text = text.replace(old, new)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)


def stub_unused_modules():
    """time_sync imports requests and dateutil, the managers import simport: none of them runs
    here (no time-sync endpoint, handlers and plugins are given as classes), so they need not be
    installed."""
    for name in ('requests', 'dateutil', 'dateutil.parser', 'simport'):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    if not hasattr(sys.modules['dateutil'], 'parser'):
        sys.modules['dateutil'].parser = sys.modules['dateutil.parser']


class EventClock(object):
    """Upstream's TimeSync with the time set by the driver (what time_sync published)."""

    def __init__(self):
        self.now = datetime.datetime(1970, 1, 1)

    def current_time(self):
        return self.now


class NoopHandler(object):
    """Every handler a pipeline names: passes the events on, so no new events come back."""

    def __init__(self, **params):
        pass

    def handle_events(self, events, env):
        return events

    def commit(self):
        pass

    def rollback(self):
        pass


def iso(dt):
    return '%04d-%02d-%02dT%02d:%02d:%02d.%06dZ' % (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second,
                                                    dt.microsecond)


def printable(value, timex):
    """A distinguishing value as `simulate` prints it (JSON.stringify of printableDistinguished)."""
    if isinstance(value, timex.TimeRange):
        return '{"begin":"%s","end":"%s"}' % (iso(value.begin), iso(value.end))
    if isinstance(value, datetime.datetime):
        return '"%s"' % iso(value)
    if isinstance(value, bool):
        raise SystemExit('unexpected boolean distinguishing value %r' % value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number(value)
    return js_string(value)


def stream_line(kind, trigger, pipeline, distinguished, events, timex):
    for (t1, m1), (t2, m2) in zip(events, events[1:]):
        if t1 == t2:
            # Upstream leaves the order of equal times to the database: no answer to compare with.
            raise SystemExit('%s stream of %s holds %s and %s at the same time %s; make the corpus times unique'
                             % (kind, trigger, m1, m2, iso(t1)))
    parts = ['"kind":' + js_string(kind), '"trigger":' + js_string(trigger),
             '"pipeline":' + ('null' if pipeline is None else js_string(pipeline)),
             '"distinguished_by":{' + ','.join(js_string(name) + ':' + printable(distinguished[name], timex)
                                               for name in sorted(distinguished)) + '}',
             '"message_ids":[' + ','.join(js_string(m) for m in (m for _, m in events)) + ']']
    return '{' + ','.join(parts) + '}'


def read_lines(path, limit):
    opener = gzip.open if path.endswith('.gz') else open
    lines = []
    with opener(path, 'rt', encoding='utf-8') as f:
        for line in f:
            if line.strip():
                lines.append(line)
                if limit and len(lines) >= limit:
                    break
    return lines


def topology_files(directory):
    """File names as the bundle's winchester.yaml gives them (upstream's keys), else the defaults."""
    names = {'distiller_config': 'event_definitions.yaml', 'trigger_definitions': 'triggers.yaml',
             'pipeline_config': 'pipelines.yaml', 'catch_all_notifications': False}
    path = os.path.join(directory, 'winchester.yaml')
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            config = yaml.safe_load(f) or {}
        names.update({k: config[k] for k in names if k in config})
    return names


class Driver(object):
    def __init__(self, topology, database_url, batch_size, record, polling):
        from sqlalchemy import create_engine
        import timex
        from winchester import models
        from winchester.db import interface
        from winchester.pipeline_manager import PipelineManager

        self.timex = timex
        self.models = models
        self.clock = EventClock()
        names = topology_files(topology)
        with open(os.path.join(topology, names['pipeline_config']), encoding='utf-8') as f:
            pipelines = yaml.safe_load(f) or {}
        handlers = {}
        for steps in pipelines.values():
            for step in steps:
                handlers[step if isinstance(step, str) else step['name']] = NoopHandler
        # One pooled connection, as a long-running worker keeps (SQLAlchemy 1.4 would open a new
        # SQLite connection per session otherwise); an in-memory database lives in one connection.
        from sqlalchemy.pool import QueuePool, StaticPool
        if database_url in ('sqlite://', 'sqlite:///:memory:'):
            engine = create_engine(database_url, poolclass=StaticPool)
        else:
            engine = create_engine(database_url, poolclass=QueuePool, pool_size=1)
        interface.ENGINES[database_url] = engine
        models.Base.metadata.create_all(engine)
        config = {
            'config_path': [os.path.abspath(topology)],
            'distiller_config': names['distiller_config'],
            'trigger_definitions': names['trigger_definitions'],
            'pipeline_config': names['pipeline_config'],
            'catch_all_notifications': names['catch_all_notifications'],
            'pipeline_handlers': {},
            'pipeline_worker_batch_size': batch_size,
            'database': {'url': database_url},
        }
        self.pm = PipelineManager(config, pipeline_handlers=handlers, time_sync=self.clock)
        self.tm = self.pm.trigger_manager
        self.db = self.pm.db
        self.batch_size = batch_size
        self.polling = polling
        self.lines = []
        self.counts = {'notifications': 0, 'events': 0, 'dropped': 0, 'fired': 0, 'expired': 0}
        if record:
            self.pm.fire_stream = self._recording(self.pm.fire_stream, 'fired')
            self.pm.expire_stream = self._recording(self.pm.expire_stream, 'expired')

    def _recording(self, method, kind):
        def run(stream):
            line = self._describe(stream, kind)
            if not method(stream):
                raise SystemExit('upstream could not %s stream %s' % (kind[:-1], stream.id))
            self.lines.append(line)
            return True
        return run

    def _describe(self, stream, kind):
        trigger = self.tm.trigger_map[stream.name]
        with self.db.in_session() as session:
            s = session.query(self.models.Stream).get(stream.id)
            distinguished = dict(s.distinguished_by_dict)
            events = [(e.generated, e.message_id) for e in s.events]
        pipeline = trigger.fire_pipeline if kind == 'fired' else trigger.expire_pipeline
        return stream_line(kind, stream.name, pipeline, distinguished, events, self.timex)

    def run_due(self):
        """Upstream's worker pass: fire what is due, then expire what is due."""
        for expire in (False, True):
            while True:
                loaded = self.pm.process_ready_streams(self.batch_size, expire=expire)
                self.counts['expired' if expire else 'fired'] += loaded
                if not loaded:
                    break

    def next_due(self, before):
        """The earliest fire or expire time of an active stream that is before `before`."""
        from sqlalchemy import func
        stream = self.models.Stream
        active = int(self.models.StreamState.active)
        times = []
        with self.db.in_session() as session:
            for column in (stream.fire_timestamp, stream.expire_timestamp):
                t = session.query(func.min(column)).filter(stream.state == active, column < before).scalar()
                if t is not None:
                    times.append(t)
        return min(times) if times else None

    def move_clock(self, to):
        if self.polling:
            # A worker polling all along: it passes each due time before the next event's time.
            due = self.next_due(to)
            while due is not None:
                self.clock.now = due + datetime.timedelta(microseconds=1)
                self.run_due()
                due = self.next_due(to)
        self.clock.now = to
        self.run_due()

    def feed(self, line):
        self.counts['notifications'] += 1
        event = self.tm.convert_notification(json.loads(line))
        if event is None:
            self.counts['dropped'] += 1
            return
        self.counts['events'] += 1
        if event['timestamp'] > self.clock.now:
            self.move_clock(event['timestamp'])
        self.tm.add_event(event)

    def drain(self):
        self.move_clock(datetime.datetime.max)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--topology', required=True, help='directory with the event definitions, triggers, pipelines')
    ap.add_argument('--input', required=True, help='notifications, JSON lines, optionally .gz')
    ap.add_argument('--limit', type=int, default=0, help='only the first N notifications')
    ap.add_argument('--output', default='-', help='vectors file, - for stdout')
    ap.add_argument('--bench', action='store_true', help='print the ingest rate instead of the streams')
    ap.add_argument('--winchester-src', required=True,
                    help='winchester 0.56 from PyPI, extracted, or a checkout of openstack/stacktach-winchester')
    ap.add_argument('--timex-src', required=True,
                    help='timex 0.20.0 from PyPI, extracted, or a checkout of openstack/stacktach-timex')
    ap.add_argument('--database', help='SQLAlchemy URL (default: a SQLite file in a temporary directory)')
    ap.add_argument('--polling', action='store_true',
                    help='also stop the clock just after every fire and expire time on its way')
    ap.add_argument('--batch-size', type=int, default=1000, help="upstream's pipeline_worker_batch_size")
    args = ap.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format='%(name)s: %(message)s')
    # SQLAlchemy 1.4 cannot cache statements with Winchester's PreciseTimestamp type and says so
    # on every query; SQLAlchemy of Winchester's time had no such cache at all.
    warnings.filterwarnings('ignore', message=r'TypeDecorator .*cache_ok')
    log.setLevel(logging.INFO)

    work = tempfile.mkdtemp(prefix='winchester-upstream-')
    try:
        py3_copy(args.winchester_src, args.timex_src, work)
        sys.path.insert(0, work)
        stub_unused_modules()
        sys.dont_write_bytecode = True
        url = args.database or 'sqlite:///' + os.path.join(work, 'winchester.sqlite')
        driver = Driver(args.topology, url, args.batch_size, record=not args.bench, polling=args.polling)
        lines = read_lines(args.input, args.limit)

        start, cpu_start = time.perf_counter(), time.process_time()
        for line in lines:
            driver.feed(line)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        drain_start = time.perf_counter()
        driver.drain()
        drain_seconds = time.perf_counter() - drain_start
        # CPU time apart: with a database file most of the rest is waiting for the disk (a sync per commit).
        log.info('%s; input: %.2f s (%.2f s CPU); drain: %.2f s; %s', json.dumps(driver.counts), seconds,
                 cpu_seconds, drain_seconds, url)

        if args.bench:
            n = driver.counts['notifications']
            print(json.dumps({'notifications': n, 'seconds': round(seconds, 3),
                              'perSecond': round(n / seconds, 1) if seconds else None}))
            return
        data = ''.join(line + '\n' for line in sorted(driver.lines)).encode('utf-8')
        if args.output == '-':
            sys.stdout.buffer.write(data)
        else:
            with open(args.output, 'wb') as f:
                f.write(data)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
