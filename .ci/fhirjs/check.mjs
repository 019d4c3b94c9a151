// Independent check of conformance/fhirxml with FHIR.js (npm fhir@4.12.0).
// CI installs it with `npm ci --prefix .ci/fhirjs` (node_modules is not
// committed); the Go test TestFHIRJSReadsOurXML runs it.
//
// Usage: node .ci/fhirjs/check.mjs DIR
// DIR holds pairs NAME.xml (written by fhirxml.Marshal) and NAME.json
// (jsonformat's JSON of the same proto). For each pair, FHIR.js reads the
// XML and the resulting object must equal the JSON. Numbers are compared as
// written ("1.50" is not "1.5"): FHIR.js keeps decimals as strings, and the
// JSON is read with its number text kept. Narrative divs are compared after
// the re-serialisation FHIR.js applies (whitespace-only text dropped, empty
// elements self-closed, character references other than &amp; &lt; &gt;
// replaced by characters).
// Exits 1 and prints each difference when any pair disagrees.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { Fhir } = require('fhir');

// parseKeepingNumbers is JSON.parse with every number kept as its text.
function parseKeepingNumbers(text) {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i;
      while (j < text.length && /[-+.eE0-9]/.test(text[j])) j++;
      out += '"' + text.slice(i, j) + '"';
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}

function canonicalDiv(div) {
  return div
    .replace(/>\s+</g, '><')
    .replace(/<([A-Za-z][\w:.-]*)((?:\s[^<>]*)?)><\/\1>/g, '<$1$2/>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;|&#39;/g, "'")
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
    .trim();
}

// normalize makes numbers and booleans strings and canonicalises divs.
function normalize(v, key) {
  if (Array.isArray(v)) return v.map((x) => normalize(x));
  if (v !== null && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = normalize(v[k], k);
    return o;
  }
  if (key === 'div' && typeof v === 'string') return canonicalDiv(v);
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : v;
}

// clip shows long strings around their first difference.
function clip(s, other) {
  if (typeof s !== 'string' || typeof other !== 'string' || s.length < 200) return JSON.stringify(s);
  let i = 0;
  while (i < s.length && s[i] === other[i]) i++;
  return JSON.stringify('...' + s.slice(Math.max(0, i - 60), i + 60) + '...');
}

function diff(a, b, where, out) {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || a === null || b === null || typeof a !== 'object') {
    if (a !== b) out.push(`${where}: FHIR.js read ${clip(a, b)}, our JSON has ${clip(b, a)}`);
    return;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) diff(a[k], b[k], Array.isArray(a) ? `${where}[${k}]` : `${where}.${k}`, out);
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node check.mjs DIR');
  process.exit(2);
}
const fhir = new Fhir();
const problems = [];
const names = fs.readdirSync(dir).filter((f) => f.endsWith('.xml')).sort();
if (names.length === 0) {
  console.error(`no .xml files in ${dir}`);
  process.exit(2);
}
for (const name of names) {
  const base = name.slice(0, -4);
  let fromXML;
  try {
    fromXML = fhir.xmlToObj(fs.readFileSync(path.join(dir, name), 'utf8'));
  } catch (e) {
    problems.push(`${base}: FHIR.js cannot read our XML: ${e.message}`);
    continue;
  }
  const ours = parseKeepingNumbers(fs.readFileSync(path.join(dir, base + '.json'), 'utf8'));
  const out = [];
  diff(normalize(fromXML), normalize(ours), base, out);
  problems.push(...out);
  console.log(`${out.length === 0 ? 'ok  ' : 'FAIL'} ${base}`);
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
