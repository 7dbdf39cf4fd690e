#!/usr/bin/env bash
# web-vendor.sh — `make web`: installs the pinned front-end packages (web/tools/package-lock.json)
# with npm and copies the files the screen loads into web/vendor/ (committed, so that building the
# binary needs no network). Run it after changing a version in web/tools/package.json.
set -euo pipefail
cd "$(dirname "$0")/../web/tools"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
V=../vendor
rm -rf "$V" && mkdir -p "$V/maplibre-gl" "$V/uplot" "$V/pmtiles" "$V/supercluster"
M=node_modules/maplibre-gl
# MapLibre GL JS 6 is an ES module that starts its worker from ./maplibre-gl-worker.mjs beside it.
cp "$M/dist/maplibre-gl.mjs" "$M/dist/maplibre-gl-worker.mjs" "$M/dist/maplibre-gl.css" "$V/maplibre-gl/"
cp "$M/LICENSE.txt" "$V/maplibre-gl/LICENSE.txt"
U=node_modules/uplot
cp "$U/dist/uPlot.esm.js" "$U/dist/uPlot.min.css" "$V/uplot/"
cp "$U/LICENSE" "$V/uplot/LICENSE"
# PMTiles (CORRIDOR_BASEMAP_URL=….pmtiles): the self-contained browser build (a classic script that
# defines window.pmtiles; fflate, MIT, is bundled in it), loaded only when a PMTiles base map is set.
P=node_modules/pmtiles
cp "$P/dist/pmtiles.js" "$V/pmtiles/"
node -e "const p=require('./$P/package.json');console.log(p.name+' '+p.version+' is '+p.license+' (its package.json; the npm package ships no licence text)')" > "$V/pmtiles/LICENSE.txt"
{ echo; echo "Bundled: fflate"; cat node_modules/fflate/LICENSE; } >> "$V/pmtiles/LICENSE.txt"
# Supercluster (the overlay's clusters, run in a Web Worker): the UMD build, a classic script that
# defines self.Supercluster, with kdbush (ISC) bundled in it.
S=node_modules/supercluster
cp "$S/dist/supercluster.js" "$V/supercluster/"
{ cat "$S/LICENSE"; echo; echo "Bundled: kdbush"; cat node_modules/kdbush/LICENSE; } > "$V/supercluster/LICENSE.txt"
{
  echo "Vendored by scripts/web-vendor.sh (make web) from npm; do not edit."
  for p in maplibre-gl uplot pmtiles fflate supercluster kdbush; do
    node -e "const p=require('./node_modules/$p/package.json');console.log(p.name+' '+p.version+' '+p.license)"
  done
} > "$V/VERSIONS.txt"
du -sh "$V"/*
