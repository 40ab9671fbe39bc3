// Bundles the browser modules into the folder the course server serves at
// /static/build. Everything the pages load comes from here: no CDN.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const outdir = fileURLToPath(new URL("../labplatform/web/static/build", import.meta.url));

await build({
  entryPoints: ["src/main.ts", "src/lab.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  outdir,
  logLevel: "warning",
});
console.log(`frontend: built into ${outdir}`);
