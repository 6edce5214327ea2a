// The console's initial load, gzipped: index.html and the scripts and styles it names (the lazily
// loaded chunks, the analytics page's chart and the OIDC client, are not part of it). Fails above
// the 250 KB target. Usage: node tests/bundle-size.mjs [dist dir]
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const dist = process.argv[2] ?? "dist";
const html = readFileSync(join(dist, "index.html"), "utf8");
const files = ["index.html", ...[...html.matchAll(/(?:src|href)="\/console\/([^"]+)"/g)].map((m) => m[1])];
let total = 0;
for (const f of files) {
  const gz = gzipSync(readFileSync(join(dist, f)), { level: 9 }).length;
  total += gz;
  console.log(`${f}\t${(gz / 1024).toFixed(1)} KB gzipped`);
}
console.log(`initial load: ${(total / 1024).toFixed(1)} KB gzipped (target 250 KB)`);
if (total > 250 * 1024) {
  console.error("the initial load is over the 250 KB target");
  process.exit(1);
}
