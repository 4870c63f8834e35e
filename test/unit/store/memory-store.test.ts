import { MemoryEventStore } from '../../../src/store/memory-store';
import { eventStoreConformance } from '../../support/event-store-conformance';

eventStoreConformance('in-memory', async () => new MemoryEventStore());
