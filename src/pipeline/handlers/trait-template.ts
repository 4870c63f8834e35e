import { WinchesterEvent } from '../../events/event';
import { traitText } from './python-values';

/**
 * Text with `{trait}` placeholders, filled from a stream's events: `/fleet/{instance_id}`.
 * `{{` and `}}` stand for literal braces, as in Python's str.format. A placeholder takes the
 * trait's value from the first event, in stream order, that has the trait, written as upstream
 * handlers print a trait (`%s`: datetimes as `2014-12-31 01:00:00`). For a trait the trigger
 * distinguishes its streams by, every event of the stream that has it carries the same value.
 * Pure: no I/O.
 */

type Part = { literal: string } | { trait: string };

export class TemplateSyntaxError extends Error {
  override readonly name = 'TemplateSyntaxError';
}

/** A placeholder names a trait: anything but braces and white space. */
const TRAIT_NAME = /^[^{}\s]+$/;

export class TraitTemplate {
  private constructor(
    readonly text: string,
    private readonly parts: readonly Part[],
  ) {}

  /** Throws TemplateSyntaxError naming the column of an unbalanced brace or a bad placeholder. */
  static parse(text: string): TraitTemplate {
    const parts: Part[] = [];
    let literal = '';
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if ((c === '{' || c === '}') && text[i + 1] === c) {
        literal += c;
        i++;
      } else if (c === '}') {
        throw new TemplateSyntaxError(`'}' at column ${i + 1} closes nothing (write }} for a literal brace)`);
      } else if (c === '{') {
        const close = text.indexOf('}', i);
        const name = close < 0 ? '' : text.slice(i + 1, close);
        if (close < 0) throw new TemplateSyntaxError(`'{' at column ${i + 1} is never closed`);
        if (!TRAIT_NAME.test(name)) {
          throw new TemplateSyntaxError(
            `{${name}} at column ${i + 1} is not a placeholder: write {trait_name} (no spaces or braces), or {{ for a literal brace`,
          );
        }
        if (literal) parts.push({ literal });
        literal = '';
        parts.push({ trait: name });
        i = close;
      } else {
        literal += c;
      }
    }
    if (literal) parts.push({ literal });
    return new TraitTemplate(text, parts);
  }

  /** The trait names the placeholders use, in order of first use. */
  get traits(): string[] {
    const names = this.parts.flatMap((part) => ('trait' in part ? [part.trait] : []));
    return [...new Set(names)];
  }

  /** The text with each placeholder replaced by `value(trait)`. */
  fill(value: (trait: string) => string): string {
    return this.parts.map((part) => ('trait' in part ? value(part.trait) : part.literal)).join('');
  }
}

/** The trait's value as text from the first event having it, or undefined when none has it. */
export function streamTraitText(events: readonly WinchesterEvent[], trait: string): string | undefined {
  for (const event of events) {
    const value = event.traits[trait];
    if (value !== undefined) return traitText(value);
  }
  return undefined;
}
