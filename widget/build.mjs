// Builds the widget into connector/static/storefront/ (served as /storefront/widget.js and
// /storefront/widget/widget-ui.js): widget.js is the always-loaded part (chat button, settings,
// triggers, the lazy loader); widget-ui.js is loaded on interaction (popup, notify-me, inline opt-in).
import { build } from "esbuild";
import { mkdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.WIDGET_OUT || join(here, "..", "connector", "static", "storefront");
const LIMIT = 10 * 1024; // Theme Check warns above 10 KB gzipped

mkdirSync(out, { recursive: true });
await build({
  entryPoints: { widget: join(here, "src", "widget.js"), "widget-ui": join(here, "src", "ui.js") },
  outdir: out,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2019", "chrome80", "firefox78", "safari13"],
  legalComments: "none",
  logLevel: "warning",
});
for (const name of ["widget.js", "widget-ui.js"]) {
  const bytes = readFileSync(join(out, name));
  console.log(`${name}: ${bytes.length} bytes, ${gzipSync(bytes, { level: 9 }).length} gzipped`);
}
const main = gzipSync(readFileSync(join(out, "widget.js")), { level: 9 }).length;
if (main > LIMIT) {
  console.error(`widget.js is ${main} bytes gzipped: over the ${LIMIT} byte budget`);
  process.exit(1);
}
