import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';

/** Options of {@link runCluster}. */
export interface ClusterOptions {
  /** Worker processes (default: one per core). */
  workers?: number;
  /** Starts one worker's server (for example `createVoiceServer(...).listen(8080)`). */
  start(): void | Promise<void>;
}

/**
 * Runs `start` in one worker process per core with `node:cluster` (the workers share the listening
 * port). A worker that dies is replaced; SIGTERM to the primary is passed to every worker, which
 * drain (see `handleSignals`), and the primary exits once they have.
 */
export function runCluster(options: ClusterOptions): void {
  if (!cluster.isPrimary) {
    void Promise.resolve(options.start());
    return;
  }
  const n = options.workers ?? availableParallelism();
  let stopping = false;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', () => {
    if (!stopping) cluster.fork();
    else if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
  process.once('SIGTERM', () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  });
}
