import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';

describe('schema registry (stand-in unless SCHEMA_REGISTRY_URL names a real one)', () => {
  const registry = new SchemaRegistry({ host: process.env.SCHEMA_REGISTRY_URL as string });
  const schema = {
    type: 'record',
    name: 'Probe',
    namespace: `winchester.test.r${Date.now()}`,
    fields: [
      { name: 'message_id', type: 'string' },
      { name: 'generated', type: { type: 'long', logicalType: 'timestamp-micros' } },
    ],
  };

  test('registers, encodes and decodes through the registry client', async () => {
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) });
    const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) });
    expect(again.id).toBe(id);
    const value = { message_id: 'm-1', generated: 1700000000123456 };
    const encoded = await registry.encode(id, value);
    expect(encoded[0]).toBe(0); // Confluent wire format: magic byte, then the schema id.
    expect(encoded.readInt32BE(1)).toBe(id);
    // A fresh client has an empty cache, so decoding fetches the schema by id.
    const fresh = new SchemaRegistry({ host: process.env.SCHEMA_REGISTRY_URL as string });
    expect(await fresh.decode(encoded)).toEqual(value);
    const subject = `${schema.namespace}.${schema.name}`;
    expect(await fresh.getLatestSchemaId(subject)).toBe(id);
    expect(
      await fresh.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(schema) }),
    ).toBe(id);
  });

  test('unknown schema ids are a clear error', async () => {
    const bogus = Buffer.from([0, 0, 0, 0x7f, 0x7f, 1]);
    await expect(registry.decode(bogus)).rejects.toThrow(/not found/i);
  });
});
