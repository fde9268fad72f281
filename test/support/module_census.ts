// Preloaded into a CLI process (`node -r dist/test/support/module_census.js ...`): when the
// process exits, writes to the file named by MODULE_CENSUS_FILE, as JSON, the absolute paths
// of every module it loaded and the CPU time it used (user + system, ms). Lets a test count
// what a command loads without timing it, and scripts/cli_startup.js report CPU time, which
// another process's load on the machine disturbs far less than wall time.
import fs from "node:fs";

const target = process.env.MODULE_CENSUS_FILE;
if (target !== undefined && target !== "") {
  process.on("exit", () => {
    const cpu = process.cpuUsage();
    fs.writeFileSync(target, JSON.stringify({ modules: Object.keys(require.cache).sort(), cpuMs: (cpu.user + cpu.system) / 1000 }));
  });
}
