// Writes the licences of every package bundled into airlock-editor.min.js next to it.
const fs = require("fs");
const path = require("path");
const lock = require("./package-lock.json");
const out = [];
for (const [where, info] of Object.entries(lock.packages)) {
  if (!where || where.includes("esbuild")) continue; // esbuild is the build tool, not bundled
  const dir = path.join(__dirname, where);
  const file = fs.readdirSync(dir).find((name) => /^licen[cs]e/i.test(name));
  const name = where.replace(/^node_modules\//, "");
  out.push(`== ${name} ${info.version} (${info.license || "see below"}) ==\n` + (file ? fs.readFileSync(path.join(dir, file), "utf8").trim() : "(no licence file)") + "\n");
}
fs.writeFileSync(path.join(__dirname, "../../static/vendor/codemirror/LICENSES.txt"), out.join("\n"));
