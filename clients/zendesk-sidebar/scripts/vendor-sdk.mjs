// Builds assets/zaf_sdk.js from the zendesk_app_framework_sdk npm package, so the app loads
// the SDK from its own package (Zendesk serves assets/ itself) rather than from a CDN.
//
// The package ships CommonJS sources (lib/*.js), not a browser file: this wraps each module
// in a function, links their relative require() calls and exposes window.ZAFClient, which
// is all a bundler would do for these four files.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkgDir = join(root, "node_modules", "zendesk_app_framework_sdk");
const target = join(root, "assets", "zaf_sdk.js");

if (!existsSync(join(pkgDir, "package.json"))) {
  console.error(`missing ${pkgDir}: run \`npm ci\` first`);
  process.exit(1);
}
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
const license = pkg.license || (pkg.licenses && pkg.licenses[0] && pkg.licenses[0].type) || "see its LICENSE";

const modules = new Map();
function collect(id) {
  if (modules.has(id)) return;
  const source = readFileSync(join(pkgDir, id), "utf8");
  const deps = {};
  modules.set(id, { source, deps });
  for (const match of source.matchAll(/require\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
    let dep = posix.normalize(posix.join(posix.dirname(id), match[1]));
    if (!dep.endsWith(".js")) dep += ".js";
    deps[match[1]] = dep;
    collect(dep);
  }
}
const entry = pkg.main || "lib/index.js";
collect(entry);

const parts = [...modules].map(([id, { source, deps }]) =>
  `${JSON.stringify(id)}: [function (module, exports, require) {\n${source}\n}, ${JSON.stringify(deps)}]`
);
const bundle = `/*! ${pkg.name} ${pkg.version} (${license}), built from npm by scripts/vendor-sdk.mjs */
(function () {
  var defs = {
${parts.join(",\n")}
  };
  var cache = {};
  function load(id) {
    if (cache[id]) return cache[id].exports;
    var module = (cache[id] = { exports: {} });
    var def = defs[id];
    def[0].call(window, module, module.exports, function (name) {
      var dep = def[1][name];
      if (!dep) throw new Error("zaf_sdk: cannot resolve " + name + " from " + id);
      return load(dep);
    });
    return module.exports;
  }
  window.ZAFClient = load(${JSON.stringify(entry)});
})();
`;
writeFileSync(target, bundle);
console.log(`built ${target} from ${pkg.name} ${pkg.version} (${modules.size} modules)`);
