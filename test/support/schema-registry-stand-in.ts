import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A stand-in for the Confluent Schema Registry, for tests only. It implements exactly the
 * REST calls @kafkajs/confluent-schema-registry makes (register, lookup by id, subject
 * versions, "is this schema registered", per-subject compatibility config), with Confluent's
 * status codes and error codes. It keeps everything in memory and checks no compatibility:
 * production uses the real registry (docker-compose.yml).
 */
interface StoredVersion {
  id: number;
  version: number;
  schema: string;
  schemaType?: string;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function canonical(schema: string, schemaType?: string): string {
  if (schemaType && schemaType !== 'AVRO' && schemaType !== 'JSON') return schema;
  try {
    return JSON.stringify(JSON.parse(schema));
  } catch {
    throw new RegistryError(422, 42201, 'Invalid schema: not JSON');
  }
}

export function createSchemaRegistryStandIn() {
  const idsByCanonical = new Map<string, number>();
  const schemasById = new Map<number, { schema: string; schemaType?: string }>();
  const subjects = new Map<string, StoredVersion[]>();
  const compatibility = new Map<string, string>();

  const versionsOf = (subject: string) => {
    const versions = subjects.get(subject);
    if (!versions) throw new RegistryError(404, 40401, `Subject '${subject}' not found.`);
    return versions;
  };
  const pickVersion = (subject: string, version: string) => {
    const versions = versionsOf(subject);
    const found =
      version === 'latest' ? versions.at(-1) : versions.find((v) => v.version === Number(version));
    if (!found) throw new RegistryError(404, 40402, `Version ${version} not found.`);
    return { subject, ...found };
  };

  const routes: Array<[string, RegExp, (m: string[], body: Record<string, unknown>) => unknown]> = [
    [
      'GET',
      /^\/schemas\/ids\/(\d+)$/,
      ([id]) => {
        const found = schemasById.get(Number(id));
        if (!found) throw new RegistryError(404, 40403, `Schema ${id} not found`);
        return found;
      },
    ],
    ['GET', /^\/subjects$/, () => [...subjects.keys()]],
    ['GET', /^\/subjects\/([^/]+)\/versions\/([^/]+)$/, ([s, v]) => pickVersion(s, v)],
    [
      'POST',
      /^\/subjects\/([^/]+)$/,
      ([subject], body) => {
        const text = canonical(String(body.schema ?? ''), body.schemaType as string | undefined);
        const found = versionsOf(subject).find((v) => canonical(v.schema, v.schemaType) === text);
        if (!found) throw new RegistryError(404, 40403, 'Schema not found');
        return { subject, ...found };
      },
    ],
    [
      'POST',
      /^\/subjects\/([^/]+)\/versions$/,
      ([subject], body) => {
        if (typeof body.schema !== 'string') throw new RegistryError(422, 42201, 'Invalid schema');
        const schemaType = body.schemaType as string | undefined;
        const text = canonical(body.schema, schemaType);
        const key = `${schemaType ?? 'AVRO'}:${text}`;
        let id = idsByCanonical.get(key);
        if (id === undefined) {
          id = idsByCanonical.size + 1;
          idsByCanonical.set(key, id);
          schemasById.set(id, schemaType ? { schema: body.schema, schemaType } : { schema: body.schema });
        }
        const versions = subjects.get(subject) ?? [];
        if (!versions.some((v) => v.id === id)) {
          versions.push({ id, version: versions.length + 1, schema: body.schema, schemaType });
          subjects.set(subject, versions);
        }
        return { id };
      },
    ],
    [
      'GET',
      /^\/config\/([^/]+)$/,
      ([subject]) => {
        const level = compatibility.get(subject);
        if (!level)
          throw new RegistryError(
            404,
            40408,
            `Subject '${subject}' does not have subject-level compatibility configured`,
          );
        return { compatibilityLevel: level };
      },
    ],
    [
      'PUT',
      /^\/config\/([^/]+)$/,
      ([subject], body) => {
        const level = String(body.compatibility ?? '').toUpperCase();
        const allowed = [
          'NONE',
          'BACKWARD',
          'BACKWARD_TRANSITIVE',
          'FORWARD',
          'FORWARD_TRANSITIVE',
          'FULL',
          'FULL_TRANSITIVE',
        ];
        if (!allowed.includes(level))
          throw new RegistryError(422, 42203, `Invalid compatibility level ${level}`);
        compatibility.set(subject, level);
        return { compatibility: level };
      },
    ],
  ];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let status = 200;
    let payload: unknown;
    try {
      const body = chunks.length
        ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>)
        : {};
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const route = routes.find(([method, pattern]) => method === req.method && pattern.test(path));
      if (!route) throw new RegistryError(404, 404, `HTTP 404 Not Found: ${req.method} ${path}`);
      const params = (path.match(route[1]) ?? []).slice(1).map(decodeURIComponent);
      payload = route[2](params, body);
    } catch (error) {
      const e = error instanceof RegistryError ? error : new RegistryError(400, 400, String(error));
      status = e.status;
      payload = { error_code: e.code, message: e.message };
    }
    res.writeHead(status, { 'Content-Type': CONTENT_TYPE });
    res.end(JSON.stringify(payload));
  }

  return createServer((req, res) => void handle(req, res));
}

export async function startSchemaRegistryStandIn(
  port = 0,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = createSchemaRegistryStandIn();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
