#!/usr/bin/env python3
"""Upstream Winchester 0.56's ingest rate, for `npm run bench:engine -- --upstream`.

Run with the python of scripts/upstream-winchester-venv.sh. Upstream's trigger and pipeline
managers, driven by scripts/vectors/winchester_upstream.py's Driver (the clock follows the
notifications; every fire and expire pass runs as the clock moves; pipelines are no-ops), read,
distill and add the first LIMIT notifications of the corpus with the topology's definitions and
triggers, storing in a real database through SQLAlchemy:

  postgresql  a database created for the run on the PostgreSQL server --server names (the local
              stack's), dropped afterwards. Upstream targets MySQL: its PreciseTimestamp type
              stores DECIMAL(20,6) there and a literal DATETIME everywhere else, a type PostgreSQL
              does not have, so the temporary copy maps it to SQLAlchemy's DateTime (timestamp,
              microseconds) on PostgreSQL only. Nothing else needs a change.
  sqlite      a SQLite file in the temporary directory (upstream's own tests use SQLite).

Upstream's code is imported from a temporary copy of the installed packages with the Python 2
spellings patched (winchester_upstream.py's PY3_FIXES). Prints one JSON line on stdout:
{"notifications", "events", "seconds", "cpuSeconds", "perSecond", "database"}; the clock's
final drain is not timed. Anything else goes to stderr.
"""
import argparse
import json
import os
import shutil
import sys
import sysconfig
import tempfile
import time
import warnings
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'scripts', 'vectors'))
import winchester_upstream as upstream  # noqa: E402  (the shared driver of the vectors)

POSTGRES_TIMESTAMP = (
    'return dialect.type_descriptor(DATETIME())',
    "return dialect.type_descriptor(DateTime() if dialect.name == 'postgresql' else DATETIME())",
)
DATETIME_IMPORT = ('from sqlalchemy.types import TypeDecorator, DATETIME',
                   'from sqlalchemy.types import TypeDecorator, DATETIME, DateTime')


@contextmanager
def postgres_database(server_url):
    """A database of its own on the server, for one run: yields its SQLAlchemy URL."""
    import psycopg2
    from sqlalchemy.engine import make_url

    name = 'winchester_upstream_%d_%d' % (os.getpid(), int(time.time()))
    url = make_url(server_url.replace('postgres://', 'postgresql://', 1))
    try:
        admin = psycopg2.connect(server_url)
        admin.autocommit = True
        admin.cursor().execute('CREATE DATABASE %s' % name)
    except psycopg2.Error as e:
        raise SystemExit('winchester_ingest: cannot create a database on PostgreSQL at %s:%s: %s'
                         % (url.host, url.port, str(e).strip().split('\n')[0]))
    try:
        # render_as_string keeps a password the server URL may carry (str() would mask it).
        yield url.set(drivername='postgresql+psycopg2', database=name).render_as_string(hide_password=False)
    finally:
        from winchester.db import interface
        for engine in interface.ENGINES.values():
            engine.dispose()
        admin.cursor().execute('DROP DATABASE IF EXISTS %s' % name)
        admin.close()


@contextmanager
def database(kind, server_url, work):
    if kind == 'sqlite':
        yield 'sqlite:///' + os.path.join(work, 'winchester.sqlite')
        return
    if not server_url:
        raise SystemExit('winchester_ingest: --database postgresql needs --server (EVENT_STORE_URL)')
    with postgres_database(server_url) as url:
        yield url


def measure(args, url):
    driver = upstream.Driver(args.topology, url, batch_size=1000, record=False, polling=False)
    lines = upstream.read_lines(args.input, args.limit)
    start, cpu_start = time.perf_counter(), time.process_time()
    for line in lines:
        driver.feed(line)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    driver.drain()
    n = driver.counts['notifications']
    return {'notifications': n, 'events': driver.counts['events'], 'seconds': round(seconds, 3),
            'cpuSeconds': round(cpu_seconds, 3), 'perSecond': round(n / seconds, 1),
            'database': args.database}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--topology', required=True)
    ap.add_argument('--input', required=True, help='notifications, JSON lines, optionally .gz')
    ap.add_argument('--limit', type=int, default=1000)
    ap.add_argument('--database', choices=('postgresql', 'sqlite'), default='postgresql')
    ap.add_argument('--server', help='PostgreSQL server URL (postgres://user@host:port/db)')
    args = ap.parse_args()
    # SQLAlchemy 1.4 warns on every query that Winchester's TypeDecorator has no cache_ok.
    warnings.filterwarnings('ignore', message=r'TypeDecorator .*cache_ok')
    upstream.PY3_FIXES['winchester/models.py'] += [DATETIME_IMPORT, POSTGRES_TIMESTAMP]
    site = sysconfig.get_paths()['purelib']
    work = tempfile.mkdtemp(prefix='winchester-upstream-')
    try:
        upstream.py3_copy(site, site, work)
        sys.path.insert(0, work)
        sys.dont_write_bytecode = True
        with database(args.database, args.server, work) as url:
            result = measure(args, url)
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
