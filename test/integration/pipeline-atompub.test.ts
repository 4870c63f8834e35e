import { createServer } from 'node:net';
import { WinchesterEvent } from '../../src/events/event';
import { AtomPubDeliveryError, atompubHandler } from '../../src/pipeline/handlers/atompub';
import { usageHandler } from '../../src/pipeline/handlers/usage';
import { HandlerTimeoutError, runPipeline } from '../../src/pipeline/runner';
import { startAtomFeed, sequence } from '../fixtures/pipeline/atom-feed-server';
import { datetime, makeEvent, recordingContext, testEnv } from '../fixtures/pipeline/handler-context';

type Feed = Awaited<ReturnType<typeof startAtomFeed>>;
const feeds: Feed[] = [];
afterEach(async () => {
  await Promise.all(feeds.splice(0).map((f) => f.stop()));
});

async function feed(script: Parameters<typeof startAtomFeed>[0] = {}) {
  const f = await startAtomFeed(script);
  feeds.push(f);
  return f;
}

/** Fast retries: 50 ms, then 100 ms... capped at 80 ms. */
const FAST = { wait_interval: 0.05, max_wait: 0.08, http_timeout: 2 };

async function publish(params: Record<string, unknown>, events: WinchesterEvent[]) {
  const recording = recordingContext();
  const handler = atompubHandler.create(params, recording.context);
  await handler.handleEvents(events, testEnv());
  let error: unknown;
  try {
    await handler.commit();
  } catch (e) {
    error = e;
  }
  return { ...recording, error, messages: recording.lines.map((l) => l.msg) };
}

const verified = (id: string) =>
  makeEvent('compute.instance.exists.verified', id, { instance_id: 'i1', original_message_id: `orig-${id}` });

describe('atompub handler against a real HTTP feed', () => {
  test('posts each matching event as an Atom entry, with a token from the auth server', async () => {
    const f = await feed();
    const { error } = await publish(
      {
        url: f.feedUrl,
        auth_server: f.authUrl,
        auth_user: 'winchester',
        auth_key: 'k3y',
        event_types: ['*.verified'],
        ...FAST,
      },
      [verified('v1'), makeEvent('compute.instance.update', 'u1'), verified('v2')],
    );
    expect(error).toBeUndefined();
    expect(f.authRequests).toHaveLength(1);
    expect(JSON.parse(f.authRequests[0].body)).toEqual({
      auth: { 'RAX-KSKEY:apiKeyCredentials': { username: 'winchester', apiKey: 'k3y' } },
    });
    expect(f.authRequests[0].headers['content-type']).toBe('application/json');
    expect(f.feedRequests.map((r) => r.headers['x-auth-token'])).toEqual(['token-1', 'token-1']);
    expect(f.feedRequests.map((r) => r.headers['content-type'])).toEqual([
      'application/atom+xml',
      'application/atom+xml',
    ]);
    const [first] = f.feedRequests;
    expect(first.body).toMatch(
      /^<atom:entry xmlns:atom="http:\/\/www.w3.org\/2005\/Atom"><atom:id>urn:uuid:v1<\/atom:id>/,
    );
    expect(first.body).toContain('<atom:category term="original_message_id:orig-v1" />');
    expect(first.body).toContain('<atom:content type="application/json">{"message_id":"v1",');
  });

  test('the token is shared by later handler instances (one per stream)', async () => {
    const f = await feed();
    const params = { url: f.feedUrl, auth_server: f.authUrl, auth_user: 'shared', ...FAST };
    await publish(params, [verified('v1')]);
    await publish(params, [verified('v2')]);
    expect(f.authRequests).toHaveLength(1);
    expect(f.feedRequests.map((r) => r.headers['x-auth-token'])).toEqual(['token-1', 'token-1']);
  });

  test('401 → re-authenticate and post again', async () => {
    const f = await feed({ feed: sequence([401]) });
    const { error, messages } = await publish(
      { url: f.feedUrl, auth_server: f.authUrl, auth_user: 'u401', ...FAST },
      [verified('v1')],
    );
    expect(error).toBeUndefined();
    expect(f.authRequests).toHaveLength(2);
    expect(f.feedRequests.map((r) => r.headers['x-auth-token'])).toEqual(['token-1', 'token-2']);
    expect(messages).toContain('Auth expired, reauthorizing...');
  });

  test('a 401 that persists after re-authenticating is a failed attempt, so it ends', async () => {
    const f = await feed({ feed: sequence([], 401) });
    const { error } = await publish(
      { url: f.feedUrl, auth_server: f.authUrl, auth_user: 'always401', max_attempts: 2, ...FAST },
      [verified('v1')],
    );
    expect(error).toBeInstanceOf(AtomPubDeliveryError);
    expect((error as Error).message).toContain('gave up after 2 attempts: HTTP 401');
    expect(f.feedRequests.length).toBeLessThanOrEqual(4);
    expect(f.authRequests.length).toBeLessThanOrEqual(3);
  });

  test('409: the feed already has the entry, which is success, not retried', async () => {
    const f = await feed({ feed: sequence([409]) });
    const { error } = await publish({ url: f.feedUrl, ...FAST }, [verified('v1')]);
    expect(error).toBeUndefined();
    expect(f.feedRequests).toHaveLength(1);
  });

  test('400: the feed refuses the entry; logged as an error, not retried, later entries still go', async () => {
    const f = await feed({ feed: sequence([400]) });
    const { error, lines } = await publish({ url: f.feedUrl, ...FAST }, [verified('v1'), verified('v2')]);
    expect(error).toBeUndefined();
    expect(f.feedRequests.map((r) => /urn:uuid:(v\d)/.exec(r.body)?.[1])).toEqual(['v1', 'v2']);
    const rejected = lines.find((l) => l.msg === 'Invalid Content: Server rejected content');
    expect(rejected).toMatchObject({ level: 50, response: 'status 400' });
    expect(rejected?.entry).toContain('urn:uuid:v1');
  });

  test('5xx is retried with a linear backoff capped at max_wait', async () => {
    const f = await feed({ feed: sequence([500, 503, 502]) });
    const started = Date.now();
    const { error, messages } = await publish({ url: f.feedUrl, ...FAST }, [verified('v1')]);
    expect(error).toBeUndefined();
    expect(f.feedRequests).toHaveLength(4);
    const waits = messages
      .filter((m) => m.startsWith('Message delivery failed'))
      .map((m) => /in ([\d.]+) seconds/.exec(m)?.[1]);
    expect(waits).toEqual(['0.05', '0.08', '0.08']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  test('a 401, 500, 409 sequence: re-auth, retry, then already delivered', async () => {
    const f = await feed({ feed: sequence([401, 500, 409]) });
    const { error } = await publish({ url: f.feedUrl, auth_server: f.authUrl, auth_user: 'mixed', ...FAST }, [
      verified('v1'),
    ]);
    expect(error).toBeUndefined();
    expect(f.feedRequests).toHaveLength(3);
    expect(f.authRequests).toHaveLength(2);
  });

  test('attempts run out: commit throws naming the entry, the other entries are still delivered', async () => {
    const f = await feed({ feed: (request) => (request.body.includes('urn:uuid:v1<') ? 500 : 201) });
    const { error, messages } = await publish({ url: f.feedUrl, max_attempts: 3, ...FAST }, [
      verified('v1'),
      verified('v2'),
    ]);
    expect(error).toBeInstanceOf(AtomPubDeliveryError);
    expect((error as Error).message).toBe(
      `1 of 2 entries not delivered to ${f.feedUrl}: v1: gave up after 3 attempts: HTTP 500 from ${f.feedUrl}`,
    );
    expect(f.feedRequests.filter((r) => r.body.includes('urn:uuid:v1<'))).toHaveLength(3);
    expect(f.feedRequests.filter((r) => r.body.includes('urn:uuid:v2<'))).toHaveLength(1);
    expect(messages).toContain(
      'Error publishing compute.instance.exists.verified event v1 (original id: orig-v1)!',
    );
  });

  test('a feed that does not answer within http_timeout is retried', async () => {
    const f = await feed({ feed: sequence(['hang']) });
    const { error, messages } = await publish({ url: f.feedUrl, ...FAST, http_timeout: 0.3 }, [
      verified('v1'),
    ]);
    expect(error).toBeUndefined();
    expect(f.feedRequests).toHaveLength(2);
    expect(messages.some((m) => m.includes(`HTTP timeout talking to ${f.feedUrl}`))).toBe(true);
  });

  test('connection refused is retried, then given up', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const url = `http://127.0.0.1:${port}/feed`;
    const { error } = await publish({ url, max_attempts: 2, ...FAST }, [verified('v1')]);
    expect((error as Error).message).toContain(
      `gave up after 2 attempts: Connection error talking to ${url} (ECONNREFUSED)`,
    );
  });

  test('a failing auth server is a failed attempt too', async () => {
    const f = await feed({ auth: sequence([500]) });
    const { error, messages } = await publish(
      { url: f.feedUrl, auth_server: f.authUrl, auth_user: 'authfail', ...FAST },
      [verified('v1')],
    );
    expect(error).toBeUndefined();
    expect(f.authRequests).toHaveLength(2);
    expect(f.feedRequests.map((r) => r.headers['x-auth-token'])).toEqual(['token-2']);
    expect(messages.some((m) => m.includes(`auth server ${f.authUrl} answered HTTP 500`))).toBe(true);
  });

  test('without an auth server, entries go without a token', async () => {
    const f = await feed();
    await publish({ url: f.feedUrl, ...FAST }, [verified('v1')]);
    expect(f.feedRequests[0].headers['x-auth-token']).toBeUndefined();
  });

  test("the pipeline's handler timeout stops a commit's retries: no post after the run failed", async () => {
    const f = await feed({ feed: sequence(Array.from({ length: 50 }, () => 500)) });
    const { context } = recordingContext();
    const run = await runPipeline(
      [{ name: 'atompub', params: { url: f.feedUrl, wait_interval: 0.1, max_wait: 0.1, max_attempts: 50 } }],
      new Map([['atompub', atompubHandler]]),
      [verified('v1')],
      testEnv(),
      context,
      { handlerTimeoutMs: 350 },
    );
    expect(run.ok).toBe(true);
    expect(run.commitFailures).toHaveLength(1);
    expect(run.commitFailures[0].error).toBeInstanceOf(HandlerTimeoutError);
    const postsAtTimeout = f.feedRequests.length;
    expect(postsAtTimeout).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(f.feedRequests).toHaveLength(postsAtTimeout);
  });

  test('a dry run posts nothing', async () => {
    const f = await feed();
    const recording = recordingContext({ dryRun: true });
    const handler = atompubHandler.create({ url: f.feedUrl, auth_server: f.authUrl }, recording.context);
    await handler.handleEvents([verified('v1')], testEnv());
    await handler.commit();
    expect(f.feedRequests).toHaveLength(0);
    expect(f.authRequests).toHaveLength(0);
  });

  test('usage verdicts as CUF entries: the pipeline usage → atompub(cuf_xml)', async () => {
    const f = await feed();
    const exists = makeEvent('compute.instance.exists', '2b6b7d4a-6e5f-4c3a-9a0e-0123456789ab', {
      instance_id: 'i-1',
      tenant_id: 't-1',
      display_name: 'web <1>',
      state: 'active',
      state_description: '',
      launched_at: datetime('2015-08-01T10:00:00'),
      audit_period_beginning: datetime('2015-08-10T00:00:00'),
      audit_period_ending: datetime('2015-08-11T00:00:00'),
      rax_options: '4',
    });
    const { context } = recordingContext();
    const env = testEnv();
    const usage = usageHandler.create({}, context);
    const atom = atompubHandler.create(
      {
        url: f.feedUrl,
        content_format: 'cuf_xml',
        event_types: 'compute.instance.exists.verified',
        extra_info: { data_center: 'DFW1', region: 'DFW' },
        title: 'Server',
        ...FAST,
      },
      context,
    );
    await atom.handleEvents(await usage.handleEvents([exists], env), env);
    await usage.commit();
    await atom.commit();
    expect(f.feedRequests).toHaveLength(1);
    expect(f.feedRequests[0].body).toBe(
      '<atom:entry xmlns:atom="http://www.w3.org/2005/Atom">' +
        '<atom:id>urn:uuid:1a3b2253-c9e4-5389-942f-2b2d1ca52189</atom:id>' +
        '<atom:category term="compute.instance.exists.verified.cuf" />' +
        '<atom:category term="original_message_id:2b6b7d4a-6e5f-4c3a-9a0e-0123456789ab" />' +
        '<atom:title type="text">Server</atom:title>' +
        '<atom:content type="application/xml">' +
        '<event xmlns="http://docs.rackspace.com/core/event" xmlns:nova="http://docs.rackspace.com/event/nova" ' +
        'version="1" id="1a3b2253-c9e4-5389-942f-2b2d1ca52189" resourceId="i-1" resourceName="web &lt;1&gt;" ' +
        'dataCenter="DFW1" region="DFW" tenantId="t-1" startTime="2015-08-10T00:00:00Z" ' +
        'endTime="2015-08-11T00:00:00Z" type="USAGE"><nova:product version="1" ' +
        'serviceCode="CloudServersOpenStack" resourceType="SERVER" flavorId="" flavorName="" ' +
        'status="ACTIVE" osLicenseType="WINDOWS" bandwidthIn="0" bandwidthOut="0"/></event>' +
        '</atom:content></atom:entry>',
    );
  });
});
