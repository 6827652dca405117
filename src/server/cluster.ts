import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors';

/** Most worker processes {@link runCluster} forks. */
const MAX_WORKERS = 1024;

/**
 * The exit code of a worker whose `start()` failed with a `ConfigError` (sysexits' EX_CONFIG): a
 * missing key or package that no restart can fix, so the primary stops instead of replacing it.
 */
const EXIT_CONFIG = 78;

/** Options of {@link runCluster}. */
export interface ClusterOptions {
  /** Worker processes, a whole number from 1 to 1024 (default: one per core). */
  workers?: number | undefined;
  /** Starts one worker's server (for example `createVoiceServer(...).listen(8080)`). */
  start(): void | Promise<void>;
  /**
   * Delay before replacing a worker that died, doubled for each worker in a row that died within
   * `stableMs` of starting, up to `maxRestartDelayMs` (default 100 ms, up to 30 000 ms).
   */
  restartDelayMs?: number | undefined;
  /** Most delay between replacements of failing workers (default 30 000 ms). */
  maxRestartDelayMs?: number | undefined;
  /** A worker that lived this long resets the backoff (default 10 000 ms). */
  stableMs?: number | undefined;
}

/**
 * Runs `start` in one worker process per core with `node:cluster` (the workers share the listening
 * port). A worker that dies is replaced; SIGTERM to the primary is passed to every worker, which
 * drain (see `handleSignals`), and the primary exits once they have. Workers that keep dying at
 * start are replaced with exponential backoff, not in a tight loop; one whose `start()` throws a
 * `ConfigError` (a missing key or package) stops every worker, and the primary exits with 1.
 * @throws ConfigError when `start` is not a function or `workers` is not a whole number from 1 to 1024.
 */
export function runCluster(options: ClusterOptions): void {
  if (typeof options?.start !== 'function') throw new ConfigError('runCluster needs a start() function that starts one worker\'s server');
  const { workers } = options;
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= MAX_WORKERS)) {
    throw new ConfigError(`runCluster: workers must be a whole number from 1 to ${MAX_WORKERS} (got ${typeof workers === 'number' ? workers : JSON.stringify(workers)}); leave it out for one per core (${availableParallelism()} here)`);
  }
  if (!cluster.isPrimary) {
    // A sync throw or a rejection ends the worker, as before; a ConfigError with a code that tells
    // the primary not to replace it.
    void (async () => options.start())().catch((err: unknown) => {
      console.error(err);
      process.exit(err instanceof ConfigError || (err as { code?: unknown } | null)?.code === 'config_error' ? EXIT_CONFIG : 1);
    });
    return;
  }
  const n = workers ?? availableParallelism();
  let stopping = false;
  let failures = 0;
  const pending = new Set<NodeJS.Timeout>();
  const born = new Map<number, number>();
  const fork = () => born.set(cluster.fork().id, performance.now());
  for (let i = 0; i < n; i++) fork();
  let exitCode = 0;
  const stop = () => {
    stopping = true;
    for (const t of pending) clearTimeout(t);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  cluster.on('exit', (worker, code) => {
    const lived = performance.now() - (born.get(worker.id) ?? 0);
    born.delete(worker.id);
    if (!stopping && code === EXIT_CONFIG) {
      console.error('runCluster: a worker\'s start() failed with the ConfigError above, which restarting cannot fix: stopping every worker');
      exitCode = 1;
      stop();
      return;
    }
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
      return;
    }
    failures = lived >= (options.stableMs ?? 10_000) ? 0 : failures + 1;
    const delay = failures ? Math.min(options.maxRestartDelayMs ?? 30_000, (options.restartDelayMs ?? 100) * 2 ** (failures - 1)) : 0;
    const restart = setTimeout(() => {
      pending.delete(restart);
      if (!stopping) fork();
    }, delay);
    pending.add(restart);
  });
  process.once('SIGTERM', stop);
}
