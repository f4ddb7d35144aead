// Builds the widget and the demo page into dist/ (served by bot/channels/web.py): `npm run build`.
import { copyFile, mkdir, rm } from "node:fs/promises";
import * as esbuild from "esbuild";

const here = new URL(".", import.meta.url).pathname;
const dist = `${here}dist`;

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
await esbuild.build({
  absWorkingDir: here,
  entryPoints: { widget: "src/widget.js", demo: "src/demo.js" },
  outdir: "dist",
  bundle: true,
  format: "iife",
  minify: true,
  target: ["es2020"],
  loader: { ".css": "text" },
  legalComments: "eof",
  logLevel: "warning",
});
await copyFile(`${here}src/demo.html`, `${dist}/demo.html`);
console.log("web/dist: widget.js, demo.js, demo.html");
