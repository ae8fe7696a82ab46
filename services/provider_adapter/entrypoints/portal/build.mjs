// `npm run build`: the provider portal's assets, from the pinned packages, into static/build/
// (ignored by git; make and deploy/Dockerfile both run this). The stylesheet is compiled from
// govuk-frontend's Sass with the settings in static/portal.scss; the Design System's script
// and the portal's own starter are copied beside it.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..", "..");
const source = join(here, "static");
const out = join(source, "build");
mkdirSync(out, { recursive: true });

const css = sass.compile(join(source, "portal.scss"), {
  style: "compressed",
  loadPaths: [join(root, "node_modules")],
  quietDeps: true,
});
writeFileSync(join(out, "portal.css"), css.css);
copyFileSync(
  join(root, "node_modules", "govuk-frontend", "dist", "govuk", "govuk-frontend.min.js"),
  join(out, "govuk-frontend.min.js"),
);
copyFileSync(join(source, "portal.mjs"), join(out, "portal.mjs"));
console.log(`portal assets built in ${out}`);

// Swagger UI for every service's /docs (services/plumbing/http.py), from swagger-ui-dist.
const docs = join(root, "services", "plumbing", "static", "build");
mkdirSync(docs, { recursive: true });
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
  copyFileSync(join(root, "node_modules", "swagger-ui-dist", name), join(docs, name));
}
copyFileSync(join(root, "services", "plumbing", "static", "docs.mjs"), join(docs, "docs.mjs"));
console.log(`API docs assets built in ${docs}`);
