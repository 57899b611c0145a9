// Copies the npm front-end assets Atelier serves itself into app/static/vendor (git-ignored).
// No CDN: the font and the Socket.IO client are served from our own origin.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const modules = join(root, "node_modules");
const vendor = join(root, "app", "static", "vendor");

function copy(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

// Atkinson Hyperlegible: latin and latin-ext subsets, regular and bold, upright and italic.
const fontDir = join(modules, "@fontsource", "atkinson-hyperlegible");
let css = "/* Atkinson Hyperlegible (SIL Open Font License 1.1), from @fontsource/atkinson-hyperlegible */\n";
for (const subset of ["latin", "latin-ext"]) {
  for (const variant of ["400", "400-italic", "700", "700-italic"]) {
    const source = readFileSync(join(fontDir, `${subset}-${variant}.css`), "utf8");
    css += source.replaceAll("./files/", "./");
    for (const match of source.matchAll(/\.\/files\/([\w.-]+\.woff2?)/g)) {
      copy(join(fontDir, "files", match[1]), join(vendor, "fonts", match[1]));
    }
  }
}
writeFileSync(join(vendor, "fonts", "atkinson-hyperlegible.css"), css);
copy(join(fontDir, "LICENSE"), join(vendor, "fonts", "LICENSE"));

// Socket.IO client for the live boards.
copy(join(modules, "socket.io-client", "dist", "socket.io.min.js"), join(vendor, "socket.io.min.js"));

console.log(`assets built into ${vendor}`);
