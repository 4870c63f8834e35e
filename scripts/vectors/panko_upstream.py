#!/usr/bin/env python3
"""Runs upstream Panko 10.0.0 against a database: the baseline of the store benchmark and the
reference of the /v2 differential test. Run it with the python of panko-venv.sh:

  PY="$(scripts/vectors/panko-venv.sh)/bin/python"
  $PY scripts/vectors/panko_upstream.py record --url postgresql://u@host:port/db --events FILE.jsonl
  $PY scripts/vectors/panko_upstream.py serve --url postgresql://u@host:port/db --port 8977

record: reads events in the wire form (src/events/wire.ts), one JSON object per line
  {"message_id", "event_type", "timestamp": µs,
   "traits": {"name": ["text"|"int"|"float"|"datetime", value]}}
(datetime values are integer µs since the epoch, UTC), creates Panko's tables if missing
(`conn.upgrade()`), then hands the whole list to one `conn.record_events(events)` and prints
one JSON line {"events", "seconds", "events_per_second"}: the time of that call alone.
Panko skips a message_id it already has; a warning on stderr says how many were stored.

serve: the /v2 API as upstream deploys it without keystone (paste pipeline panko+noauth: cors,
http_proxy_to_wsgi, request_id, osprofiler, the pecan/WSME app), one thread, on HOST:PORT (0
picks a free port). Identity comes from the X-Roles / X-User-Id / X-Project-Id headers; without
--policy-file the registered defaults apply (admin = role admin). Tables are created if missing.
Prints "panko upstream API on http://HOST:PORT/" on stdout once it listens. oslo.config's
environment source applies, e.g. OS_CORS__ALLOWED_ORIGIN=http://valid.example.com.
Several unknown query parameters are named in a 400 in Python set order ("bar, foo" or
"foo, bar"), which follows the hash seed: PYTHONHASHSEED fixes it for a run. Error texts that
quote Python's own messages are those of the interpreter (3.11 says "a real number" where 3.8
said "a number").

Panko logs to stdout by default; everything it prints goes to stderr here, so stdout carries only
the lines above.
"""
import argparse
import datetime
import json
import os
import sys
import tempfile
import time

EPOCH = datetime.datetime(1970, 1, 1)
# Panko's storage models.Trait dtypes.
DTYPES = {'text': 1, 'int': 2, 'float': 3, 'datetime': 4}

# Upstream's etc/panko/api_paste.ini (10.0.0), the noauth part.
API_PASTE_INI = """
[composite:panko+noauth]
use = egg:Paste#urlmap
/ = pankoversions_pipeline
/healthcheck = healthcheck
/v2 = pankov2_noauth_pipeline

[pipeline:pankoversions_pipeline]
pipeline = cors http_proxy_to_wsgi pankoversions

[app:pankoversions]
paste.app_factory = panko.api.app:app_factory
root = panko.api.controllers.root.VersionsController

[pipeline:pankov2_noauth_pipeline]
pipeline = cors http_proxy_to_wsgi request_id osprofiler pankov2

[app:pankov2]
paste.app_factory = panko.api.app:app_factory
root = panko.api.controllers.v2.root.V2Controller

[filter:request_id]
paste.filter_factory = oslo_middleware:RequestId.factory

[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = panko

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory
oslo_config_project = panko

[filter:osprofiler]
paste.filter_factory = panko.profiler:WsgiMiddleware.factory
oslo_config_project = panko

[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = /etc/panko/healthcheck_disable
"""


class InputError(Exception):
    pass


def micros_to_datetime(micros):
    # Integer arithmetic: no float rounding of the microseconds. Naive UTC, as Panko stores it.
    return EPOCH + datetime.timedelta(microseconds=micros)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def trait_value(kind, value, where):
    if kind == 'text':
        if not isinstance(value, str):
            raise InputError(f'{where}: a text trait needs a string, got {value!r}')
        return value
    if kind == 'float':
        if not (is_int(value) or isinstance(value, float)):
            raise InputError(f'{where}: a float trait needs a number, got {value!r}')
        return float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_int(value):
        needs = 'an int trait needs an integer' if kind == 'int' else \
            'a datetime trait needs integer microseconds'
        raise InputError(f'{where}: {needs}, got {value!r}')
    return micros_to_datetime(value) if kind == 'datetime' else value


def to_panko_event(models, wire, where):
    """One wire-form event as a Panko storage models.Event."""
    if not isinstance(wire, dict):
        raise InputError(f'{where}: not a JSON object')
    message_id, event_type = wire.get('message_id'), wire.get('event_type')
    if not isinstance(message_id, str) or not message_id:
        raise InputError(f'{where}: no message_id')
    if not isinstance(event_type, str):
        raise InputError(f'{where}: no event_type')
    if not is_int(wire.get('timestamp')):
        raise InputError(f'{where}: timestamp must be integer microseconds')
    raw_traits = wire.get('traits', {})
    if not isinstance(raw_traits, dict):
        raise InputError(f'{where}: traits is not an object')
    traits = []
    for name, pair in raw_traits.items():
        if not isinstance(pair, list) or len(pair) != 2 or pair[0] not in DTYPES:
            raise InputError(f'{where}: trait {name} is not [type, value] with a known type')
        value = trait_value(pair[0], pair[1], f'{where}: trait {name}')
        traits.append(models.Trait(name, DTYPES[pair[0]], value))
    return models.Event(message_id, event_type, micros_to_datetime(wire['timestamp']), traits, {})


def read_events(models, path):
    events = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f'{path}:{number}'
            try:
                wire = json.loads(line)
            except ValueError as e:
                raise InputError(f'{where}: not JSON ({e})') from None
            events.append(to_panko_event(models, wire, where))
    return events


def sqlalchemy_url(url):
    """The URL with psycopg2 named: SQLAlchemy 1.3 has no `postgres` dialect, and oslo.db warns
    when the driver is left out."""
    for scheme in ('postgres://', 'postgresql://'):
        if url.startswith(scheme):
            return 'postgresql+psycopg2://' + url[len(scheme):]
    return url


def panko_config(url):
    from oslo_policy import opts as policy_opts
    from panko import service

    conf = service.prepare_service([], [])
    policy_opts.set_defaults(conf)  # registers [oslo_policy], as upstream's API tests do
    conf.set_override('connection', sqlalchemy_url(url), group='database')
    # Upstream retries a failing connection 10 times, 10 s apart: fail at once instead.
    conf.set_override('max_retries', 0, group='database')
    return conf


def count_events(conn):
    # Through the driver's own engine: upstream has no count query.
    engine = conn._engine_facade.get_engine()
    return engine.execute('SELECT count(*) FROM event').scalar()


def record(args, out):
    from panko import storage
    from panko.storage import models

    events = read_events(models, args.events)
    conn = storage.get_connection_from_config(panko_config(args.url))
    conn.upgrade()
    before = count_events(conn)
    started = time.perf_counter()
    conn.record_events(events)
    seconds = time.perf_counter() - started
    stored = count_events(conn) - before
    if stored != len(events):
        print(f'panko_upstream: {stored} of {len(events)} events stored '
              '(Panko skips message_ids it already has)', file=sys.stderr)
    rate = len(events) / seconds if seconds > 0 else None
    print(json.dumps({'events': len(events), 'seconds': round(seconds, 6),
                      'events_per_second': round(rate, 1) if rate else rate}), file=out, flush=True)


def serve(args, out):
    from wsgiref import simple_server

    from panko.api import app
    from panko import storage

    conf = panko_config(args.url)
    paste_ini = tempfile.NamedTemporaryFile('w', prefix='panko-api-', suffix='.ini', delete=False)
    with paste_ini:
        paste_ini.write(API_PASTE_INI)
    conf.set_override('api_paste_config', paste_ini.name)
    if args.policy_file:
        conf.set_override('policy_file', os.path.abspath(args.policy_file), group='oslo_policy')
    if args.default_limit is not None:
        conf.set_override('default_api_return_limit', args.default_limit, group='api')
    storage.get_connection_from_config(conf).upgrade()
    try:
        application = app.load_app(conf, appname='panko+noauth')
    finally:
        os.unlink(paste_ini.name)  # read once, at load

    class Handler(simple_server.WSGIRequestHandler):
        def log_message(self, *message):
            if args.access_log:
                super().log_message(*message)

    server = simple_server.make_server(args.host, args.port, application, handler_class=Handler)
    print(f'panko upstream API on http://{args.host}:{server.server_port}/', file=out, flush=True)
    server.serve_forever()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    rec = commands.add_parser('record', help='time one record_events call')
    rec.add_argument('--url', required=True, help='database URL (postgresql://, sqlite:///)')
    rec.add_argument('--events', required=True, help='wire-form events, one JSON object a line')
    srv = commands.add_parser('serve', help='run the /v2 API (panko+noauth)')
    srv.add_argument('--url', required=True, help='database URL (postgresql://, sqlite:///)')
    srv.add_argument('--port', type=int, required=True, help='TCP port, 0 for any free one')
    srv.add_argument('--host', default='127.0.0.1')
    srv.add_argument('--policy-file', help='oslo.policy file replacing the defaults')
    srv.add_argument('--default-limit', type=int, help='[api] default_api_return_limit (100)')
    srv.add_argument('--access-log', action='store_true', help='log requests on stderr')
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    out, sys.stdout = sys.stdout, sys.stderr  # Panko's log handler writes to sys.stdout
    try:
        (record if args.command == 'record' else serve)(args, out)
    except InputError as e:
        print(f'panko_upstream: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
