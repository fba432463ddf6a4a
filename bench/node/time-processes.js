// Starts a command N times, one after another, and prints the median and p90 wall time.
//   node bench/node/time-processes.js LABEL N COMMAND [ARGS...]
const { spawnSync } = require('child_process');
const [label, count, command, ...args] = process.argv.slice(2);
const samples = [];
for (let i = 0; i < Number(count) + 3; i++) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e3;
  if (result.status !== 0) { console.error(`${label}: exit ${result.status}`); process.exit(1); }
  if (i >= 3) samples.push(elapsed); // the first runs warm the page cache
}
samples.sort((a, b) => a - b);
const at = (q) => samples[Math.min(samples.length - 1, Math.floor(samples.length * q))];
console.log(`per-build, ${label}: median ${at(0.5).toFixed(0)} µs, p90 ${at(0.9).toFixed(0)} µs (n=${samples.length})`);
