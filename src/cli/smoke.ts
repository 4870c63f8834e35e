import { Command } from 'commander';
import { connectionSettings, redisUrlFrom } from '../config/environment';
import { createKafka } from '../kafka/client';
import { roundTrip } from '../kafka/round-trip';
import { redisTarget } from '../redis/client';
import { connectRedis, requireKafka } from './connect';
import { positiveNumber } from './errors';

export function registerSmoke(program: Command): void {
  program
    .command('smoke')
    .description('check the Kafka and Redis connections with a produce/consume round trip')
    .option('-n, --count <n>', 'records to round-trip', '10000')
    .option('--partitions <n>', 'partitions of the scratch topic', '4')
    .action(async (opts: { count: string; partitions: string }) => {
      const count = positiveNumber('--count', opts.count, true);
      const partitions = positiveNumber('--partitions', opts.partitions, true);
      const settings = { ...connectionSettings(), redisUrl: redisUrlFrom() };
      const redis = await connectRedis(settings.redisUrl, { maxRetriesPerRequest: 2 });
      const pong = await redis.ping();
      redis.disconnect();
      await requireKafka(settings);
      const kafka = createKafka(settings, settings.clientId);
      const topic = `winchester.smoke.${Date.now()}`;
      const report = await roundTrip(kafka, {
        topic,
        partitions,
        count,
        members: 2,
      });
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
      process.stdout.write(
        `redis ${redisTarget(settings.redisUrl)}: ${pong}\n` +
          `kafka ${settings.kafkaBrokers.join(',')}: ${report.produced} produced, ${report.uniqueReceived} received ` +
          `(${report.redelivered} redelivered across the rebalance, ${report.lost} lost) ` +
          `by 2 group members [${report.receivedByMember.join(', ')}] in ${report.seconds.toFixed(2)} s\n`,
      );
      if (report.lost > 0) process.exitCode = 1;
    });
}
