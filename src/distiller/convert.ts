import { TraitType } from '../events/event';
import { parseIso8601Python } from '../time/micros';
import { ConversionFailure, pyFloat, pyFloatRepr, pyInt, pyStr, pyTypeName } from './python';

/** Converts a matched value to a trait's type as StackDistiller does; throws ConversionFailure. */
export type Converter = (value: unknown) => string | number;

const toText: Converter = (v) => (typeof v === 'string' ? v : pyStr(v));

const toInt: Converter = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v !== 0 ? v : pyInt(v));

const toFloat: Converter = (v) => {
  const x = pyFloat(v);
  // Python keeps inf and nan; JSON cannot carry them to the next stage, so they are refused here.
  if (!Number.isFinite(x)) throw new ConversionFailure(`float value ${pyFloatRepr(x)} is not finite`);
  return x;
};

const toDatetime: Converter = (v) => {
  if (typeof v !== 'string') {
    throw new ConversionFailure(`expected string or bytes-like object, got '${pyTypeName(v)}'`);
  }
  const t = parseIso8601Python(v);
  if (typeof t === 'string') throw new ConversionFailure(t);
  return t;
};

export const CONVERTERS: Record<TraitType, Converter> = {
  text: toText,
  int: toInt,
  float: toFloat,
  datetime: toDatetime,
};
