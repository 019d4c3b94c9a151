// Evaluates FHIRPath expressions with fhirpath.js (the HL7-listed reference
// JavaScript engine) on the R4 model, for conformance/kit's differential test.
// stdin: [{"resource": {...}, "expression": "..."}, ...]
// stdout: [{"result": [...]} | {"error": "..."}, ...] in the same order.
import { readFileSync } from 'node:fs';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';

const cases = JSON.parse(readFileSync(0, 'utf8'));
const out = cases.map(({ resource, expression }) => {
  try {
    return { result: fhirpath.evaluate(resource, expression, null, r4) };
  } catch (e) {
    return { error: String(e && e.message || e) };
  }
});
process.stdout.write(JSON.stringify(out));
