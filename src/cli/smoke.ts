import { Command } from 'commander';
import Redis from 'ioredis';
import { connectionSettings } from '../config/environment';
import { createKafka } from '../kafka/client';
import { roundTrip } from '../kafka/round-trip';

export function registerSmoke(program: Command): void {
  program
    .command('smoke')
    .description('check the Kafka and Redis connections with a produce/consume round trip')
    .option('-n, --count <n>', 'records to round-trip', '10000')
    .option('--partitions <n>', 'partitions of the scratch topic', '4')
    .action(async (opts: { count: string; partitions: string }) => {
      const settings = connectionSettings();
      const redis = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
      await redis.connect();
      const pong = await redis.ping();
      redis.disconnect();
      const kafka = createKafka(settings.kafkaBrokers, settings.clientId);
      const topic = `winchester.smoke.${Date.now()}`;
      const report = await roundTrip(kafka, {
        topic,
        partitions: Number(opts.partitions),
        count: Number(opts.count),
        members: 2,
      });
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
      process.stdout.write(
        `redis ${settings.redisUrl}: ${pong}\n` +
          `kafka ${settings.kafkaBrokers.join(',')}: ${report.produced} produced, ${report.uniqueReceived} received ` +
          `(${report.redelivered} redelivered across the rebalance, ${report.lost} lost) ` +
          `by 2 group members [${report.receivedByMember.join(', ')}] in ${report.seconds.toFixed(2)} s\n`,
      );
      if (report.lost > 0) process.exitCode = 1;
    });
}
