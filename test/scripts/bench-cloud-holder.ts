import { startCloudProcess } from '../../scripts/bench/cloud-process.ts';

// A stand-in for the bench process in test/scripts/bench-cloud-process.test.ts: starts the
// bench's cloud process, prints its pid and the stand-ins' on one line, then waits to be
// killed. As the bench does, SIGINT ends it with process.exit.
process.once('SIGINT', () => process.exit(130));
const cloud = await startCloudProcess({ directory: process.argv[2]!, fresh: true });
process.stdout.write(`${JSON.stringify({ pid: cloud.pid, children: cloud.info.children })}\n`);
setInterval(() => undefined, 60_000);
