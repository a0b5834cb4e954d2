// Loaded with `node --import` into the fw-shard process the benchmark runs: at exit, writes the
// process's own peak resident memory and CPU time (getrusage) to $FWS_BENCH_USAGE_FILE. Exact, unlike
// polling /proc, which can miss the last 100 ms.
import { writeFileSync } from 'node:fs';

const file = process.env.FWS_BENCH_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const u = process.resourceUsage();
    try {
      writeFileSync(
        file,
        JSON.stringify({
          maxRssKb: u.maxRSS,
          cpuMs: Math.round((u.userCPUTime + u.systemCPUTime) / 1000),
          userMs: Math.round(u.userCPUTime / 1000),
          sysMs: Math.round(u.systemCPUTime / 1000),
        }),
      );
    } catch {
      /* best effort */
    }
  });
}
