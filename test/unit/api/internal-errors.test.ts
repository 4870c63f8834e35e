import { FastifyInstance } from 'fastify';
import { buildApi } from '../../../src/api/server';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { MemoryEventStore } from '../../../src/store/memory-store';
import { EventFilter, Pagination, StoredEvent } from '../../../src/store/model';
import { logger } from '../../../src/util/logger';

/** A store that fails as a broken database would, with internals in its message. */
class FailingStore extends MemoryEventStore {
  override async getEvents(_filter: EventFilter, _page?: Pagination): Promise<StoredEvent[]> {
    throw new Error('connect ECONNREFUSED 10.1.2.3:5432 (password for user panko)');
  }
  override async getEventTypes(): Promise<string[]> {
    throw Object.assign(new Error('relation "event_types" does not exist'), { statusCode: 503 });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let app: FastifyInstance;
let logged: jest.SpyInstance;
beforeAll(() => {
  app = buildApi({
    metrics: new WinchesterMetrics('api'),
    namespace: 'errors-test',
    eventStore: new FailingStore(),
  });
});
beforeEach(() => {
  logged = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
});
afterEach(() => logged.mockRestore());
afterAll(() => app.close());

test('a failure answers 500 {error: internal, id} only; the log has the id, the error and its stack', async () => {
  for (const url of ['/v2/events', '/v2/events/e1']) {
    logged.mockClear();
    const response = await app.inject({ url });
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json() as { error: string; id: string };
    expect(Object.keys(body).sort()).toEqual(['error', 'id']);
    expect(body.error).toBe('internal');
    expect(body.id).toMatch(UUID);
    expect(response.body).not.toMatch(/ECONNREFUSED|password|at /);
    expect(logged).toHaveBeenCalledTimes(1);
    const [fields, message] = logged.mock.calls[0] as [Record<string, unknown>, string];
    expect(message).toBe('API request failed');
    expect(fields).toMatchObject({ errorId: body.id, method: 'GET', url });
    expect((fields.err as Error).stack).toContain('ECONNREFUSED');
  }
});

test('each failure gets its own id; a 5xx status an error carries is a 500 all the same', async () => {
  const first = (await app.inject({ url: '/v2/event_types' })).json() as { id: string };
  const second = await app.inject({ url: '/v2/event_types' });
  expect(second.statusCode).toBe(500);
  expect(second.json()).toEqual({ error: 'internal', id: expect.stringMatching(UUID) });
  expect(second.json().id).not.toBe(first.id);
});

test('refusals keep their messages: only what the API did not expect is hidden', async () => {
  const refused = await app.inject({ url: '/v2/events?limit=-1' });
  expect(refused.statusCode).toBe(400);
  expect(refused.json().error_message.faultstring).toContain('the limit should be a positive integer');
  expect(logged).not.toHaveBeenCalled();
});
