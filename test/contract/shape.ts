/**
 * Contract helpers: compile-time checks of voxline's wire shapes against the official SDKs' types
 * (test files are type-checked by `npm test`'s tsc step), and a runtime check of recorded
 * messages against typed reference messages.
 */

type IsAny<T> = 0 extends 1 & T ? true : false;

/**
 * `true` when every key of `W`, at every depth (through arrays), is also a key of `O`: no field
 * renamed, invented or misspelled. Optional fields count too, which plain assignability misses.
 */
export type KeysWithin<W, O> =
  IsAny<O> extends true ? true
  : W extends readonly (infer WE)[]
    ? [ArrayOf<O>] extends [never] ? false : KeysWithin<WE, ArrayOf<O>[number]>
  : W extends object
    ? [ObjectOf<O>] extends [never] ? false
      : [Exclude<keyof W, keyof ObjectOf<O>>] extends [never]
        ? false extends { [K in keyof W]-?: K extends keyof ObjectOf<O> ? KeysWithin<NonNullable<W[K]>, NonNullable<ObjectOf<O>[K]>> : false }[keyof W]
          ? false
          : true
        : false
    : true;

/** The array members of a (possibly union) official type, e.g. `string[]` of `string | string[]`. */
type ArrayOf<O> = Extract<NonNullable<O>, readonly unknown[]>;
/** The object members of a (possibly union) official type, arrays and primitives left out. */
type ObjectOf<O> = Exclude<Extract<NonNullable<O>, object>, readonly unknown[]>;

/**
 * What a client reads (`W`) is what the official type provides: the official type is assignable
 * to it (same names, compatible types, nothing it needs is missing) and it names no other field.
 */
export type ReadsOfficial<W, O> = [O] extends [W] ? KeysWithin<W, O> : false;

/**
 * What an emulator sends (`E`) is a valid official message: assignable to the official type and
 * with no field the official type lacks.
 */
export type SendsOfficial<E, O> = [E] extends [O] ? KeysWithin<E, O> : false;

/** Compiles only when `T` is `true`: `check<ReadsOfficial<A, B>>()`. */
export function check<T extends true>(..._: T extends true ? [] : [never]): void {}

/**
 * Differences in shape between a recorded message and a reference message: keys missing or extra
 * (at every depth; arrays are compared element by element against the reference's first element)
 * and values of another JSON type. `optional` lists paths (like `$.metadata.diarize_info`) that
 * may be absent from `actual`.
 */
export function shapeProblems(actual: unknown, reference: unknown, optional: string[] = [], path = '$'): string[] {
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (kind(actual) !== kind(reference)) return [`${path}: ${kind(actual)} where the reference has ${kind(reference)}`];
  if (Array.isArray(actual) && Array.isArray(reference)) {
    if (reference.length === 0) return [];
    return actual.flatMap((a, i) => shapeProblems(a, reference[0], optional, `${path}[${i}]`));
  }
  if (actual && typeof actual === 'object') {
    const a = actual as Record<string, unknown>;
    const r = reference as Record<string, unknown>;
    const out: string[] = [];
    for (const k of Object.keys(a)) if (!(k in r)) out.push(`${path}.${k}: not in the reference`);
    for (const k of Object.keys(r)) {
      if (!(k in a)) {
        if (!optional.includes(`${path}.${k}`)) out.push(`${path}.${k}: missing`);
      } else out.push(...shapeProblems(a[k], r[k], optional, `${path}.${k}`));
    }
    return out;
  }
  return [];
}
