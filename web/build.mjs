// Builds the widget, the demo page and the agent console into dist/ (served by bot/channels/web.py
// and bot/channels/agent_console/static.py): `npm run build`.
import { copyFile, mkdir, rm } from "node:fs/promises";
import * as esbuild from "esbuild";

const here = new URL(".", import.meta.url).pathname;
const dist = `${here}dist`;
const common = {
  absWorkingDir: here,
  bundle: true,
  format: "iife",
  minify: true,
  target: ["es2020"],
  legalComments: "eof",
  logLevel: "warning",
};

await rm(dist, { recursive: true, force: true });
await mkdir(`${dist}/agent`, { recursive: true });
await esbuild.build({
  ...common,
  entryPoints: { widget: "src/widget.js", demo: "src/demo.js" },
  outdir: "dist",
  loader: { ".css": "text" },
});
await esbuild.build({ ...common, entryPoints: { console: "agent/console.js" }, outdir: "dist/agent" });
await copyFile(`${here}src/demo.html`, `${dist}/demo.html`);
await copyFile(`${here}agent/index.html`, `${dist}/agent/index.html`);
await copyFile(`${here}agent/console.css`, `${dist}/agent/console.css`);
console.log("web/dist: widget.js, demo.js, demo.html; web/dist/agent: index.html, console.js, console.css");
