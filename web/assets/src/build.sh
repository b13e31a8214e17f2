#!/bin/sh
# build.sh bundles editor.js with the CodeMirror packages pinned in
# package.json / package-lock.json into
# web/assets/vendor/codemirror-<@codemirror/view's version>/editor.min.js,
# with the licences of every bundled package in LICENSES.txt beside it.
# It builds in a scratch folder outside the repository (node_modules never
# lands in the tree); Node and npm are needed here only, never in CI.
#
#   sh web/assets/src/build.sh [scratch-dir]   (or: make editor-bundle)
set -eu
src=$(cd "$(dirname "$0")" && pwd)
vendor="$src/../vendor"
work=${1:-${TMPDIR:-/tmp}/qualdial-cm-build}
rm -rf "$work" && mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/editor.js" "$work/"
cd "$work"
npm ci --no-audit --no-fund >/dev/null
version=$(node -p 'require("./node_modules/@codemirror/view/package.json").version')
out="$vendor/codemirror-$version"
rm -rf "$vendor"/codemirror-* && mkdir -p "$out"
npx esbuild editor.js --bundle --minify --format=iife --target=es2020 --legal-comments=none \
	--metafile=meta.json --outfile="$out/editor.min.js" --log-level=warning
# The licences of the packages that ended up in the bundle.
node -e '
const fs = require("fs");
const meta = JSON.parse(fs.readFileSync("meta.json"));
const pkgs = new Set();
for (const f in meta.inputs) { const m = f.match(/node_modules\/((@[^/]+\/)?[^/]+)/); if (m) pkgs.add(m[1]); }
let txt = "editor.min.js bundles these packages (all MIT), built by web/assets/src/build.sh.\n";
for (const p of [...pkgs].sort()) {
  const dir = "node_modules/" + p, pj = JSON.parse(fs.readFileSync(dir + "/package.json"));
  const lic = fs.readdirSync(dir).find(f => /^licen[cs]e/i.test(f));
  txt += "\n==== " + p + " " + pj.version + " (" + pj.license + ")\n\n" + fs.readFileSync(dir + "/" + lic, "utf8").trim() + "\n";
}
fs.writeFileSync(process.argv[1], txt);
' "$out/LICENSES.txt"
echo "built $out/editor.min.js: $(wc -c <"$out/editor.min.js") bytes, $(gzip -9c "$out/editor.min.js" | wc -c) gzipped"
