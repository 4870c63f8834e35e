import { EventEmitter } from 'node:events';

/**
 * A role's outcomes as one typed stream: the role emits each outcome once, by name, and
 * whatever records outcomes (counters, Prometheus metrics, log lines) subscribes to the
 * ones it records. `Outcomes` maps each outcome's name to its payload.
 *
 * Listeners run synchronously inside `emit`, so an outcome is recorded before the role
 * goes on, exactly as if the role had recorded it itself.
 */
export class RoleEvents<Outcomes extends object> {
  private readonly emitter = new EventEmitter();

  emit<K extends OutcomeName<Outcomes>>(name: K, payload: Outcomes[K]): void {
    this.emitter.emit(name, payload);
  }

  on<K extends OutcomeName<Outcomes>>(name: K, listener: (payload: Outcomes[K]) => void): this {
    this.emitter.on(name, listener);
    return this;
  }

  off<K extends OutcomeName<Outcomes>>(name: K, listener: (payload: Outcomes[K]) => void): this {
    this.emitter.off(name, listener);
    return this;
  }
}

/** EventEmitter throws on an `error` event nobody listens to: an outcome must never be called that. */
type OutcomeName<Outcomes> = Exclude<keyof Outcomes, 'error'> & string;
