"""Replays OpenStack notifications through oslo.messaging's own Notifier.

Reads notifications as JSON lines (a file, or stdin) and emits each with
oslo_messaging.Notifier over the transport URL given (rabbit://... or kafka://...):
its publisher_id, event_type, priority and payload as they are, its _context_*
fields (or its _context object) as an oslo.context RequestContext, so that the
context on the wire is what oslo itself makes of one.

oslo gives every notification a message_id and a timestamp of its own. For each
notification sent, one JSON line on stdout says which:
    {"index": 0, "message_id": "...", "topic": "notifications.info"}
(index counts the non-blank input lines from 0; one line per topic). Then
    {"paused": N}   after N notifications, for each --pause-after N: sending
                    resumes on SIGUSR1 (a test restarts RabbitMQ meanwhile)
    {"done": N}     once the transport is closed: every message is on the wire.
Bad input lines are reported on stderr, the others still sent; the exit status
is 1 then. oslo's own log (connection errors, reconnections) goes to stderr.

Driver options not given by a flag below go in the URL's query, as oslo reads
them there: rabbit://guest:guest@host:5672/?rabbit_interval_max=2
"""

import argparse
import json
import logging
import signal
import sys
import urllib.parse
import warnings

# oslo.messaging imports oslo.service, which warns on stderr that eventlet is deprecated.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

import oslo_messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402
from oslo_context import context as oslo_context  # noqa: E402
from oslo_messaging import transport as oslo_transport  # noqa: E402

PAUSE_LIMIT_SECONDS = 600
PRIORITIES = ('audit', 'critical', 'debug', 'error', 'info', 'sample', 'warn', 'warning')


class ArgumentParser(argparse.ArgumentParser):
    """A command-line mistake is one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f'{self.prog}: {message}\n')


def parse_arguments(argv):
    parser = ArgumentParser(prog='notify.py', description=__doc__.split('\n\n')[0])
    parser.add_argument('url', help='oslo transport URL: rabbit://... or kafka://...')
    parser.add_argument('input', nargs='?', default='-',
                        help='JSON lines of notifications (default: stdin)')
    parser.add_argument('--driver', choices=('messaging', 'messagingv2'), default='messagingv2',
                        help='messaging: the bare 1.0 format; messagingv2: the 2.0 envelope')
    parser.add_argument('--topic', action='append', dest='topics',
                        help='notification topic, repeatable (default: notifications)')
    parser.add_argument('--control-exchange', default='openstack',
                        help="the service's exchange (rabbit)")
    parser.add_argument('--durable', action='store_true',
                        help='amqp_durable_queues=True: durable exchange and queues (rabbit)')
    parser.add_argument('--compression', choices=('gzip', 'bz2'),
                        help="kombu_compression: compress each message's body (rabbit)")
    parser.add_argument('--pause-after', type=int, action='append', default=[], metavar='N',
                        help='after N notifications, wait for SIGUSR1 (repeatable)')
    args = parser.parse_args(argv)
    scheme = urllib.parse.urlsplit(args.url).scheme
    if scheme not in ('rabbit', 'kafka'):
        parser.error(f'the URL must be rabbit://... or kafka://..., not {args.url!r}')
    if scheme == 'kafka' and (args.durable or args.compression):
        parser.error('--durable and --compression are rabbit driver options')
    if any(n < 1 for n in args.pause_after):
        parser.error('--pause-after takes a positive count')
    return args


def transport_url(args):
    """The URL with the rabbit options of the flags in its query, where oslo reads them."""
    options = {}
    if args.durable:
        options['amqp_durable_queues'] = 'true'
    if args.compression:
        options['kombu_compression'] = args.compression
    if not options:
        return args.url
    parts = urllib.parse.urlsplit(args.url)
    query = urllib.parse.parse_qsl(parts.query) + list(options.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class RecordingTransport(oslo_transport.NotificationTransport):
    """oslo's notification transport, keeping what each completed send gave the driver.

    The Notifier makes the message (message_id, timestamp) inside one call and hands it only
    to its drivers; the transport is where it can be seen. A send the driver gave up on raised
    (and the Notifier only logged it), so it is not kept.
    """

    def __init__(self, transport):
        super().__init__(transport._driver)
        self.sent = []

    def _send_notification(self, target, ctxt, message, version, retry=None):
        super()._send_notification(target, ctxt, message, version, retry=retry)
        self.sent.append((target.topic, message['message_id']))


def request_context(notification):
    """The notification's context as oslo.context's RequestContext, or None when it has none.

    Nova-era notifications spread it over _context_* keys (user, tenant, request_id, ...);
    newer ones carry a _context object. Either way oslo sends its own, redacted, copy.
    """
    nested = notification.get('_context')
    fields = dict(nested) if isinstance(nested, dict) else {}
    fields.update((key[len('_context_'):], value) for key, value in notification.items()
                  if key.startswith('_context_'))
    if not fields:
        return None
    fields.setdefault('user', fields.get('user_id'))
    fields.setdefault('project_id', fields.get('tenant'))
    return oslo_context.RequestContext.from_dict(fields)


def read_notifications(stream):
    """(index, notification or the reason it is not one) for each non-blank line of bytes."""
    index = 0
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            notification = json.loads(line.decode('utf-8'))
            problem = notification_problem(notification)
        except UnicodeDecodeError:
            notification, problem = None, 'not UTF-8'
        except ValueError as error:
            notification, problem = None, f'invalid JSON: {error}'
        yield index, (f'line {number}: {problem}' if problem else notification)
        index += 1


def notification_problem(notification):
    if not isinstance(notification, dict):
        return 'not a JSON object'
    for key in ('publisher_id', 'event_type', 'priority'):
        if not isinstance(notification.get(key), str):
            return f'no {key} string'
    if notification['priority'].lower() not in PRIORITIES:
        return f'unknown priority {notification["priority"]!r}'
    if 'payload' not in notification:
        return 'no payload'
    return None


def emit(line):
    print(json.dumps(line), flush=True)


class Replay:
    """Sends notifications one at a time through one Notifier, pausing where asked."""

    def __init__(self, args):
        conf = cfg.ConfigOpts()
        conf([], project='notify', default_config_files=[], default_config_dirs=[])
        # What a service does at start: its exchange is its control_exchange.
        oslo_messaging.set_transport_defaults(control_exchange=args.control_exchange)
        self.transport = RecordingTransport(
            oslo_messaging.get_notification_transport(conf, url=transport_url(args)))
        self.notifier = oslo_messaging.Notifier(
            self.transport, driver=args.driver, topics=args.topics or ['notifications'])
        self.pauses = sorted(set(args.pause_after))
        self.sent = 0
        self.failed = 0

    def send(self, index, notification):
        notifier = self.notifier.prepare(publisher_id=notification['publisher_id'])
        # Notifier.info, .error, ...: each sends its priority, upper-cased as oslo does.
        method = getattr(notifier, notification['priority'].lower())
        before = len(self.transport.sent)
        method(request_context(notification), notification['event_type'], notification['payload'])
        done = self.transport.sent[before:]
        if not done:
            self.fail(index, 'oslo did not send it (see its log above)')
            return
        for topic, message_id in done:
            emit({'index': index, 'message_id': message_id, 'topic': topic})
        self.sent += 1
        if self.sent in self.pauses:
            emit({'paused': self.sent})
            # Whoever asked for the pause may be gone: no process is left waiting for ever.
            if signal.sigtimedwait({signal.SIGUSR1}, PAUSE_LIMIT_SECONDS) is None:
                sys.exit(f'notify.py: no SIGUSR1 in {PAUSE_LIMIT_SECONDS} s after pausing')

    def fail(self, index, reason):
        self.failed += 1
        print(f'notify.py: notification {index}: {reason}', file=sys.stderr, flush=True)

    def close(self):
        """Closes the transport: the rabbit driver's connections, the kafka producer (flushed)."""
        self.transport.cleanup()
        emit({'done': self.sent})


def main(argv):
    args = parse_arguments(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    # The rabbit driver says at INFO level when it has reconnected.
    logging.getLogger('oslo.messaging').setLevel(logging.INFO)
    # Blocked before oslo starts a thread, so every thread inherits the mask and SIGUSR1 waits
    # for sigtimedwait instead of ending the process.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        stream = sys.stdin.buffer if args.input == '-' else open(args.input, 'rb')
    except OSError as error:
        print(f'notify.py: {args.input}: {error.strerror}', file=sys.stderr)
        return 2
    replay = Replay(args)
    with stream:
        for index, notification in read_notifications(stream):
            if isinstance(notification, str):
                replay.fail(index, notification)
            else:
                replay.send(index, notification)
    replay.close()
    return 1 if replay.failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
