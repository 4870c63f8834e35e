#!/usr/bin/env python3
"""Runs upstream StackDistiller over a JSON-lines file of notifications.

vectors mode (default): writes one line per input line, in input order:
  - the event in canonical JSON (what `winchester distill` prints): message_id, event_type,
    timestamp, then the traits sorted by name (UTF-16 order, as JS sorts); datetimes as
    YYYY-MM-DDTHH:MM:SS.ffffffZ, ints as integers, floats as JS prints them (an integral
    float with a `.0`); traits named message_id/event_type/timestamp are left out (Winchester
    keeps the envelope's values);
  - or {"outcome": "dropped", "reason": "unmatched" | "no-traits", ...} when upstream (with
    Winchester's condenser check) yields no event;
  - or {"outcome": "error", "exception": "...", ...} when upstream raises.

bench mode (--bench N): prints one JSON object with upstream's throughput on the file:
json.loads + distill, and distill alone on pre-parsed notifications (best of N rounds).

Run it with the virtualenv made by scripts/vectors/upstream-venv.sh; it is not part of the
project's runtime and the tests do not need it.
"""
import argparse
import datetime
import decimal
import gzip
import json
import sys
import time

from stackdistiller import condenser as sd_condenser
from stackdistiller import distiller as sd_distiller

ENVELOPE = ('message_id', 'event_type', 'timestamp')


class CaptureCondenser(sd_condenser.CondenserBase):
    """Keeps the envelope and the traits apart, as Winchester's condenser does."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.envelope = None
        self.traits = []

    def add_envelope_info(self, event_type, message_id, when):
        self.envelope = (event_type, message_id, when)

    def add_trait(self, name, trait_type, value):
        self.traits.append((name, trait_type, value))

    def get_event(self):
        return self


def js_string(s):
    """JSON.stringify of a string: non-ASCII as is, lone surrogates escaped."""
    if not isinstance(s, str):  # upstream accepts e.g. an integer message_id
        return json.dumps(s)
    out = ['"']
    short = {'"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t'}
    for ch in s:
        c = ord(ch)
        if ch in short:
            out.append(short[ch])
        elif c < 0x20 or 0xD800 <= c <= 0xDFFF:
            out.append('\\u%04x' % c)
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def js_number(x):
    """JS Number.prototype.toString of a finite float (ECMAScript's Number::toString)."""
    if x == 0:
        return '0'
    sign = '-' if x < 0 else ''
    digits_tuple = decimal.Decimal(repr(abs(x))).normalize().as_tuple()
    digits = ''.join(map(str, digits_tuple.digits))
    k = len(digits)
    n = digits_tuple.exponent + k
    if k <= n <= 21:
        body = digits + '0' * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + '.' + digits[n:]
    elif -6 < n <= 0:
        body = '0.' + '0' * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + '.' + digits[1:]
        body = '%se%s%d' % (mantissa, '+' if e >= 0 else '-', abs(e))
    return sign + body


def canonical_float(x):
    """canonicalTraitValue of a float: an integral value keeps a `.0` (unless JS uses an exponent)."""
    if x != x:
        return '"NaN"'
    if x in (float('inf'), float('-inf')):
        return '"Infinity"' if x > 0 else '"-Infinity"'
    if x == 0 and str(x).startswith('-'):
        return '-0.0'
    text = js_number(x)
    if float(x).is_integer() and 'e' not in text:
        return text + '.0'
    return text


def canonical_time(dt):
    dt = dt.astimezone(datetime.timezone.utc)
    return '"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"' % (
        dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond)


def canonical_value(trait_type, value):
    name = trait_type.name
    if name == 'text':
        return js_string(value)
    if name == 'int':
        return str(value)
    if name == 'float':
        return canonical_float(value)
    return canonical_time(value)


def utf16_key(s):
    return s.encode('utf-16-be', 'surrogatepass')


def canonical_event(c):
    event_type, message_id, when = c.envelope
    traits = {name: (trait_type, value) for name, trait_type, value in c.traits}
    parts = ['"message_id":' + js_string(message_id), '"event_type":' + js_string(event_type),
             '"timestamp":' + canonical_time(when)]
    for name in sorted(traits, key=utf16_key):
        if name in ENVELOPE:
            continue
        trait_type, value = traits[name]
        parts.append(js_string(name) + ':' + canonical_value(trait_type, value))
    return '{' + ','.join(parts) + '}'


def record(outcome, body, **fields):
    rec = {'outcome': outcome}
    if isinstance(body, dict):
        for key in ('message_id', 'event_type'):
            value = body.get(key)
            rec[key] = value if isinstance(value, str) else None
    rec.update(fields)
    return json.dumps(rec, ensure_ascii=False)


def distill_line(d, line):
    try:
        body = json.loads(line)
    except ValueError as e:
        return record('error', None, exception='%s: %s' % (type(e).__name__, e))
    c = CaptureCondenser()
    try:
        result = d.to_event(body, c)
    except Exception as e:  # upstream raises for bad notifications: the vector records which
        return record('error', body, exception='%s: %s' % (type(e).__name__, e))
    if result is None:
        return record('dropped', body, reason='unmatched')
    if not c.traits:
        return record('dropped', body, reason='no-traits')
    return canonical_event(c)


def read_lines(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt', encoding='utf-8', newline='\n') as f:
        return [line.rstrip('\n') for line in f if line.strip()]


def write_lines(path, lines):
    data = ''.join(line + '\n' for line in lines).encode('utf-8')
    if path == '-':
        sys.stdout.buffer.write(data)
    elif path.endswith('.gz'):
        # mtime=0: the same input gives the same bytes, so regenerating changes nothing in git.
        with open(path, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb', mtime=0, filename='') as f:
            f.write(data)
    else:
        with open(path, 'wb') as f:
            f.write(data)


def bench(d, lines, rounds):
    def best(fn):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    bodies = [json.loads(line) for line in lines]

    def parse_and_distill():
        for line in lines:
            d.to_event(json.loads(line), sd_condenser.DictionaryCondenser())

    def distill_only():
        for body in bodies:
            d.to_event(body, sd_condenser.DictionaryCondenser())

    def parse_only():
        for line in lines:
            json.loads(line)

    n = len(lines)
    return {
        'notifications': n,
        'rounds': rounds,
        'python': sys.version.split()[0],
        'parse_distill_per_s': n / best(parse_and_distill),
        'distill_per_s': n / best(distill_only),
        'json_parse_per_s': n / best(parse_only),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--definitions', required=True)
    ap.add_argument('--input', required=True, help='JSON lines, optionally .gz')
    ap.add_argument('--output', default='-', help='vectors file (.gz compresses), - for stdout')
    ap.add_argument('--catch-all', action='store_true')
    ap.add_argument('--now', help='ISO time upstream uses for a notification without a timestamp')
    ap.add_argument('--bench', type=int, metavar='ROUNDS', help='measure throughput instead')
    args = ap.parse_args()

    if args.now:
        fixed = sd_distiller.convert_datetime(args.now)
        sd_distiller.utcnow = lambda: fixed
    d = sd_distiller.Distiller(sd_distiller.load_config(args.definitions), catchall=args.catch_all)
    lines = read_lines(args.input)
    if args.bench:
        print(json.dumps(bench(d, lines, args.bench)))
        return
    write_lines(args.output, [distill_line(d, line) for line in lines])


if __name__ == '__main__':
    main()
