// The check of the emulators' option names (internal: not exported from voxline/testing).
import { checkOptionNames } from '../provider';

/** Option objects already checked by a composite emulator (the gateway), for the emulators it is made of. */
export const CHECKED_OPTIONS = new WeakSet<object>();

/**
 * Refuses a misspelled option of an emulator (`scipt`: plain JavaScript gets no compiler check,
 * and an emulator that ignores it answers a test wrongly, with nothing said), naming the nearest.
 */
export function checkEmulatorOptions(owner: string, opts: object, names: Readonly<Record<string, true>>): void {
  if (!CHECKED_OPTIONS.has(opts)) checkOptionNames(owner, opts, names);
}
