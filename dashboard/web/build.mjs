// Builds the web pages into dashboard/web/dist, which the Go binary embeds (dashboard/web.go):
// bundles src/*.js with their CSS (Leaflet and uPlot from npm, images inlined), copies pages/*.html,
// and copies the admin boundary files as the boundaries fallback. Run with `npm run build`;
// `--out DIR` builds elsewhere (the browser tests build into a temporary directory).
import * as esbuild from "esbuild";
import { copyFile, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outArg = process.argv.indexOf("--out");
const dist = outArg > 0 ? process.argv[outArg + 1] : join(here, "dist");
const admin = join(here, "..", "..", "configs", "admin");

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, "assets"), { recursive: true });
await mkdir(join(dist, "admin"), { recursive: true });

await esbuild.build({
  entryPoints: Object.fromEntries(["map", "report", "track", "kpi"].map((n) => [n, join(here, "src", n + ".js")])),
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome100", "firefox100", "safari15"],
  outdir: join(dist, "assets"),
  loader: { ".png": "dataurl", ".svg": "dataurl" },
  legalComments: "linked",
  logLevel: "warning",
});

for (const f of await readdir(join(here, "pages"))) {
  if (f.endsWith(".html")) await copyFile(join(here, "pages", f), join(dist, f));
}
const files = (await readdir(admin)).filter((f) => f.endsWith(".geojson")).sort();
for (const f of files) await copyFile(join(admin, f), join(dist, "admin", f));
await writeFile(join(dist, "admin", "index.json"), JSON.stringify(files));
console.log(`web: built ${join("dashboard", "web", "dist")} (${files.length} boundary files)`);
