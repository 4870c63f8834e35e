/** Pure summary of `npm run bench:kafka-clients`: medians, per-round ratios, the 1.3× rule. */
import { ratio, rounded } from './stats';

export const CLIENTS = ['kafkajs', 'platformatic'] as const;
export type ClientName = (typeof CLIENTS)[number];

/** One run of one client: records/s and CPU µs (user + system) per record. */
export interface Measured {
  perSecond: number;
  cpuUsPerRecord: number;
}

export interface RoundFigures {
  relay: Measured;
  produce: Measured;
  consume: Measured;
}

const RUNS = ['relay', 'produce', 'consume'] as const;
type RunName = (typeof RUNS)[number];

/** The rule: the client changes only for at least this speed-up of the relay chain. */
export const SWITCH_SPEEDUP = 1.3;

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function clientSummary(rounds: RoundFigures[]) {
  const summary = (run: RunName) => ({
    per_s: rounded(median(rounds.map((r) => r[run].perSecond))),
    cpu_us_per_record: rounded(median(rounds.map((r) => r[run].cpuUsPerRecord))),
  });
  return { relay: summary('relay'), produce: summary('produce'), consume: summary('consume') };
}

/**
 * @platformatic/kafka against kafkajs run by run: rounds are paired by index (they ran back to
 * back), so a slow spell of the machine weighs on both sides of a ratio. Rate > 1 and CPU < 1
 * favour @platformatic/kafka.
 */
function comparison(kafkajs: RoundFigures[], platformatic: RoundFigures[], run: RunName) {
  const pairs = kafkajs.map((k, i) => ({ k: k[run], p: platformatic[i][run] }));
  const rates = pairs.map(({ k, p }) => p.perSecond / k.perSecond);
  const cpus = pairs.map(({ k, p }) => p.cpuUsPerRecord / k.cpuUsPerRecord);
  return {
    rate: rounded(median(rates), 2),
    rate_min: rounded(Math.min(...rates), 2),
    rate_max: rounded(Math.max(...rates), 2),
    cpu: rounded(median(cpus), 2),
    cpu_min: rounded(Math.min(...cpus), 2),
    cpu_max: rounded(Math.max(...cpus), 2),
  };
}

/**
 * What the relay chain's per-round ratios say about the 1.3× rule, in one sentence: a verdict
 * only when every round agrees, since one noisy round on a shared machine can swing a median.
 */
export function verdict(relay: {
  rate: number | null;
  rate_min: number | null;
  rate_max: number | null;
}): string {
  const { rate, rate_min: min, rate_max: max } = relay;
  if (rate === null || min === null || max === null) return 'no verdict: the relay chain was not measured';
  const figures = `@platformatic/kafka relays ${rate}× as fast as kafkajs (rounds ${min}–${max})`;
  if (min >= SWITCH_SPEEDUP)
    return `${figures}: every round at least ${SWITCH_SPEEDUP}×, the relay chain passes the rule`;
  if (max < SWITCH_SPEEDUP)
    return `${figures}: every round under ${SWITCH_SPEEDUP}×, the relay chain fails the rule`;
  return `${figures}: the rounds straddle ${SWITCH_SPEEDUP}×, no verdict on speed (run more rounds on a quieter machine)`;
}

/** Each round's figures, rounded, for the record. */
const roundsDetail = (rounds: RoundFigures[]) =>
  rounds.map((r) =>
    Object.fromEntries(RUNS.map((run) => [run, [rounded(r[run].perSecond), rounded(r[run].cpuUsPerRecord)]])),
  );

/**
 * The most the topology could gain from the client's CPU alone: its CPU per record (kafkajs,
 * loading included) against that less what @platformatic/kafka saves on the relay chain (which
 * has at least the topology's Kafka traffic per record, loading included). Exact only if the
 * topology were CPU-bound in its process; null when the saving is not below the topology's CPU.
 */
export function topologySpeedupAtMost(
  topologyCpuUs: number,
  kafkajsRelayCpuUs: number,
  platformaticRelayCpuUs: number,
) {
  const saved = kafkajsRelayCpuUs - platformaticRelayCpuUs;
  if (!(saved < topologyCpuUs)) return null;
  return rounded(topologyCpuUs / (topologyCpuUs - Math.max(0, saved)), 2);
}

function topologyFigures(topology: Measured, kafkajs: RoundFigures[], platformatic: RoundFigures[]) {
  const relayCpu = (rounds: RoundFigures[]) => median(rounds.map((r) => r.relay.cpuUsPerRecord));
  return {
    per_s: rounded(topology.perSecond),
    cpu_us_per_record: rounded(topology.cpuUsPerRecord),
    speedup_at_most_with_platformatic: topologySpeedupAtMost(
      topology.cpuUsPerRecord,
      relayCpu(kafkajs),
      relayCpu(platformatic),
    ),
  };
}

/** The run's figures as one JSON-ready object (snake_case, rates per second). */
export function clientFigures(
  records: number,
  rounds: Record<ClientName, RoundFigures[]>,
  topology: Measured,
) {
  const { kafkajs, platformatic } = rounds;
  if (kafkajs.length !== platformatic.length || kafkajs.length === 0)
    throw new Error(
      `rounds differ or are missing: kafkajs ${kafkajs.length}, platformatic ${platformatic.length}`,
    );
  const vs = Object.fromEntries(RUNS.map((run) => [run, comparison(kafkajs, platformatic, run)])) as Record<
    RunName,
    ReturnType<typeof comparison>
  >;
  return {
    records,
    rounds: kafkajs.length,
    kafkajs: clientSummary(kafkajs),
    platformatic: clientSummary(platformatic),
    platformatic_vs_kafkajs: vs,
    relay_ratio_of_medians: ratio(
      median(platformatic.map((r) => r.relay.perSecond)),
      median(kafkajs.map((r) => r.relay.perSecond)),
    ),
    topology_kafkajs: topologyFigures(topology, kafkajs, platformatic),
    rounds_per_s_and_cpu_us: { kafkajs: roundsDetail(kafkajs), platformatic: roundsDetail(platformatic) },
    verdict: verdict(vs.relay),
  };
}
