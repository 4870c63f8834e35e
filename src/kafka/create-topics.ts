import { Admin, ITopicConfig } from 'kafkajs';

/** What a broker answers about a topic created a moment ago while its metadata catches up. */
const NOT_YET_KNOWN = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
]);
const POLL_MS = 100;

/**
 * Creates topics (those that exist already are left alone) and waits until every partition of
 * each has a leader. kafkajs's own wait (`waitForLeaders`) gives up on UNKNOWN_TOPIC_OR_PARTITION,
 * which a KRaft broker answers for a while after a creation when it is busy: that is waited
 * out here as well, up to `timeoutMs`; and a partition's leader may refuse its offsets for a moment
 * after the metadata names it (NOT_LEADER_FOR_PARTITION), so the topics are ready only once
 * their offsets are listed.
 */
export async function createTopicsAndWait(
  admin: Admin,
  topics: ITopicConfig[],
  timeoutMs = 30_000,
): Promise<void> {
  if (topics.length === 0) return;
  await admin.createTopics({ topics, waitForLeaders: false });
  const names = topics.map((t) => t.topic);
  const deadline = Date.now() + timeoutMs;
  while (!(await allLed(admin, names))) {
    if (Date.now() > deadline) {
      throw new Error(
        `topics ${names.join(', ')} still have no leader ${timeoutMs / 1000} s after their creation`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function allLed(admin: Admin, names: string[]): Promise<boolean> {
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: names });
    if (!topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)))
      return false;
    for (const name of names) await admin.fetchTopicOffsets(name);
    return true;
  } catch (error) {
    if (NOT_YET_KNOWN.has((error as { type?: string }).type ?? '')) return false;
    throw error;
  }
}
