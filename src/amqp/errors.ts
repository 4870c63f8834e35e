/** host:port/vhost of an AMQP URL, for messages: never its user or password. */
export function amqpTarget(url: string): string {
  try {
    const parsed = new URL(url);
    const vhost = decodeURIComponent(parsed.pathname.slice(1)) || '/';
    return `${parsed.hostname}:${parsed.port || (parsed.protocol === 'amqps:' ? 5671 : 5672)} vhost ${vhost}`;
  } catch {
    return '(an AMQP_URL that is not a URL)';
  }
}

/** Checks AMQP_URL's form before anything connects: one line when it is wrong. */
export function amqpUrlProblem(url: string | undefined): string | undefined {
  if (!url) return 'AMQP_URL is not set (e.g. amqp://user:password@host:5672/vhost)';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'AMQP_URL is not a URL (e.g. amqp://user:password@host:5672/vhost)';
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:')
    return `AMQP_URL must start with amqp:// or amqps://, not ${parsed.protocol}//`;
  return undefined;
}

/**
 * One line for a failed connection or declaration: what RabbitMQ (or the network) said, and
 * what to check. RabbitMQ's own text comes first-hand: `ACCESS_REFUSED - …`, `NOT_FOUND - …`.
 */
export function explainAmqpError(error: unknown, target: string): string {
  const e = error as { code?: string | number; message?: string };
  const message = e.message ?? String(error);
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    return `cannot reach RabbitMQ at ${target} (${e.code}): is it running, and is AMQP_URL right? (bash scripts/stack.sh start runs a local one)`;
  }
  if (/ACCESS_REFUSED|auth/i.test(message)) {
    return `RabbitMQ at ${target} refused the bridge: ${firstLine(message)} (check the user and password in AMQP_URL and its permissions on the vhost)`;
  }
  if (/PRECONDITION_FAILED/.test(message)) {
    return `RabbitMQ at ${target} refused a declaration: ${firstLine(message)} (bridge.durable and bridge.quorum must match how the services declare their queues: [oslo_messaging_rabbit] amqp_durable_queues and rabbit_quorum_queue)`;
  }
  return `RabbitMQ at ${target}: ${firstLine(message)}`;
}

const firstLine = (text: string) => text.split('\n')[0];
