/** The distiller under live topology changes: new event definitions apply from the next notification. */
import { Consumer } from 'kafkajs';
import { parseEventDefinitions } from '../../../src/distiller';
import { decodeEvent } from '../../../src/events/wire';
import { defaultTopologySettings } from '../../../src/config/topology-settings';
import { DistillFunction, DistillerRole } from '../../../src/topology/distiller-role';
import { logger } from '../../../src/util/logger';
import { fakeBatch, fakeProducer } from './fakes';

const V1 = `
- event_type: compute.instance.*
  traits:
    instance_id:
      fields: payload.instance_id
`;

/** Version 2 adds a trait. */
const V2 = `${V1}    memory_mb:
      type: int
      fields: payload.memory_mb
`;

const distillerOf = (yaml: string, name: string): DistillFunction => {
  const definitions = parseEventDefinitions(yaml, name);
  return (text) => definitions.outcome(text);
};

const notification = (id: string) =>
  JSON.stringify({
    event_type: 'compute.instance.update',
    message_id: id,
    timestamp: '2026-11-01 00:10:58.869000',
    payload: { instance_id: `inst-${id}`, memory_mb: 512 },
  });

function distiller(distill: DistillFunction) {
  const settings = defaultTopologySettings({ namespace: 't' });
  const kafka = fakeProducer();
  const role = new DistillerRole({ consumer: {} as Consumer, producer: kafka.producer }, settings, distill);
  /** Each event produced: its id and trait names. */
  const produced = () =>
    kafka.sentTo(settings.topics.events).map((m) => {
      const event = decodeEvent(String(m.value));
      return `${event.message_id}: ${Object.keys(event.traits).sort().join(' ')}`;
    });
  return { role, produced };
}

describe('DistillerRole: definitions swapped live', () => {
  const level = logger.level;
  beforeAll(() => void (logger.level = 'silent'));
  afterAll(() => void (logger.level = level));

  const v1 = distillerOf(V1, 'v1/event_definitions.yaml');
  const v2 = distillerOf(V2, 'v2/event_definitions.yaml');

  it('a swap while a batch is in flight applies from the next record of that batch', async () => {
    const { role, produced } = distiller(v1);
    // The new version arrives once the first record is distilled, while the batch goes on.
    role.events.on('distilled', ({ event }) => {
      if (event.message_id === 'a') role.setDistill(v2);
    });
    const batch = fakeBatch([notification('a'), notification('b'), notification('c')]);
    await role.eachBatch(batch);

    expect(produced()).toEqual(['a: instance_id', 'b: instance_id memory_mb', 'c: instance_id memory_mb']);
    expect(batch.resolved).toEqual(['2']);
  });

  it('a swap asked for while a record is being distilled leaves that record to the old definitions', async () => {
    const { role, produced } = distiller((text) => {
      const outcome = v1(text);
      role.setDistill(v2);
      return outcome;
    });
    await role.eachBatch(fakeBatch([notification('a'), notification('b')]));

    expect(produced()).toEqual(['a: instance_id', 'b: instance_id memory_mb']);
  });

  it('between batches: the next batch is distilled with the new definitions, and back after a rollback', async () => {
    const { role, produced } = distiller(v1);
    await role.eachBatch(fakeBatch([notification('a')]));
    role.setDistill(v2);
    await role.eachBatch(fakeBatch([notification('b')]));
    role.setDistill(v1);
    await role.eachBatch(fakeBatch([notification('c')]));

    expect(produced()).toEqual(['a: instance_id', 'b: instance_id memory_mb', 'c: instance_id']);
  });
});
