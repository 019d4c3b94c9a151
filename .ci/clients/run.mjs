// Real FHIR client libraries drive a running madx through their own APIs:
// fhir-kit-client, fhirclient (SMART fhirclient.js, its FhirClient class)
// and @medplum/core. Each reads the CapabilityStatement, finds the test
// Measure, creates a MeasureReport (POST), updates it (PUT with If-Match),
// reads it back, searches it, resends it (a correction of the stored report,
// docs/rest.md), sends a transaction Bundle, calls $validate with an invalid
// report, and sees a 422 as its own error carrying the OperationOutcome.
//
//   MADX_BASE=http://127.0.0.1:8080/fhir node .ci/clients/run.mjs
//
// The server must hold testdata/madx/definitions and none of the reports
// this script sends (cmd/madx/clients_test.go starts such a server). Every
// check prints what it expected and found; the exit status is 1 if any
// failed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Client as FhirKit } from 'fhir-kit-client';
import { MedplumClient, OperationOutcomeError } from '@medplum/core';

const require = createRequire(import.meta.url);
const { FhirClient } = require('fhirclient'); // CommonJS; its node entry

const base = (process.env.MADX_BASE || '').replace(/\/$/, '');
if (!base) {
  console.error('MADX_BASE is not set: the FHIR base URL of a running madx, e.g. http://127.0.0.1:8080/fhir');
  process.exit(2);
}
const MEASURE = 'http://ohie.org/Measure/madx-hiv-indicator-example';
const template = JSON.parse(readFileSync(new URL(
  '../../testdata/madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json', import.meta.url)));

let failures = 0;
let checks = 0;
function check(what, ok, expected, found) {
  checks++;
  if (ok) return true;
  failures++;
  console.log(`FAIL ${what}\n     expected: ${expected}\n     found:    ${show(found)}`);
  return false;
}
function show(v) {
  if (typeof v === 'string') return v.length > 600 ? v.slice(0, 600) + '...' : v;
  try { return show(JSON.stringify(v)); } catch { return String(v); }
}
// equal checks found === expected.
function equal(what, found, expected) {
  return check(what, found === expected, show(expected), found);
}

// A valid report of the test Measure for subject and month (YYYY-MM, a
// 31-day month), without an id.
function report(subject, month, status = 'pending') {
  const r = structuredClone(template);
  delete r.id;
  r.subject = { reference: subject };
  r.reporter = { reference: subject };
  r.period = { start: `${month}-01`, end: `${month}-31` };
  r.status = status;
  return r;
}
// An invalid one: a group code the Measure does not define.
function invalidReport(month) {
  const r = report('Location/HealthPost1', month);
  r.group[0].code = { coding: [{ system: 'http://ihe.net/qrph/madx/', code: 'NOT_IN_MEASURE' }] };
  return r;
}
function transactionBundle(tag, month) {
  const put = report('Location/HealthPost2', month);
  put.id = `${tag.replace(/[^A-Za-z0-9]/g, "")}-hp2`;
  return {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'PUT', url: `MeasureReport/${put.id}` }, resource: put },
      { request: { method: 'POST', url: 'MeasureReport' }, resource: report('Location/HealthPost3', month) },
    ],
  };
}

// The checks every client shares, on what its API handed back.
function checkCapabilities(who, cs) {
  equal(`${who}: CapabilityStatement.resourceType`, cs?.resourceType, 'CapabilityStatement');
  equal(`${who}: CapabilityStatement.fhirVersion`, cs?.fhirVersion, '4.0.1');
  const mr = cs?.rest?.[0]?.resource?.find((r) => r.type === 'MeasureReport');
  const codes = (mr?.interaction || []).map((i) => i.code);
  check(`${who}: MeasureReport interactions`, ['create', 'update', 'read', 'search-type'].every((c) => codes.includes(c)),
    'create, update, read and search-type', codes);
  check(`${who}: MeasureReport operations`, (mr?.operation || []).some((o) => o.name === 'validate'), 'validate', mr?.operation);
  const sys = (cs?.rest?.[0]?.interaction || []).map((i) => i.code);
  check(`${who}: system interactions`, sys.includes('transaction'), 'transaction', sys);
}
function checkMeasureFound(who, resources) {
  check(`${who}: the test Measure is loaded`, resources.length === 1 && resources[0].url === MEASURE,
    `one Measure with url ${MEASURE}`, resources.map((r) => r.url));
}
function checkCreated(who, r) {
  check(`${who}: create answers the stored report`, r?.resourceType === 'MeasureReport' && !!r.id, 'a MeasureReport with an id', r);
  equal(`${who}: created meta.versionId`, r?.meta?.versionId, '1');
}
function checkUpdated(who, r, id) {
  equal(`${who}: update keeps the id`, r?.id, id);
  equal(`${who}: updated meta.versionId`, r?.meta?.versionId, '2');
  equal(`${who}: updated status`, r?.status, 'complete');
}
function checkFound(who, resources, id) {
  const ids = resources.map((r) => r.id);
  check(`${who}: search finds the report`, ids.length === 1 && ids[0] === id, `[${id}]`, ids);
}
function checkCorrected(who, r, id) {
  equal(`${who}: a resend keeps the holder's id`, r?.id, id);
  equal(`${who}: a resend makes version 3`, r?.meta?.versionId, '3');
}
function checkTransaction(who, b) {
  equal(`${who}: transaction answer type`, b?.type, 'transaction-response');
  const statuses = (b?.entry || []).map((e) => e.response?.status);
  check(`${who}: transaction entries`, statuses.length === 2 && statuses.every((s) => s === '201 Created'),
    '["201 Created","201 Created"]', statuses);
}
function checkValidated(who, oo) {
  equal(`${who}: $validate answers an OperationOutcome`, oo?.resourceType, 'OperationOutcome');
  const bad = (oo?.issue || []).filter((i) => ['error', 'fatal'].includes(i.severity) && i.expression?.length);
  check(`${who}: $validate names the invalid element`, bad.some((i) => i.expression.includes('MeasureReport.group[0].code')),
    'an error or fatal issue with expression MeasureReport.group[0].code', oo);
}
function checkRefusalOutcome(who, oo) {
  equal(`${who}: the 422 carries an OperationOutcome`, oo?.resourceType, 'OperationOutcome');
  check(`${who}: the 422 names the invalid element`,
    (oo?.issue || []).some((i) => i.severity === 'fatal' && i.expression?.includes('MeasureReport.group[0].code')),
    'a fatal issue with expression MeasureReport.group[0].code', oo);
}
// expectError runs fn, which must throw; inspect checks what it threw.
async function expectError(who, what, fn, inspect) {
  try {
    const got = await fn();
    check(`${who}: ${what}`, false, 'the client raises an error', got);
  } catch (err) {
    inspect(err);
  }
}

const clients = {
  // fhir-kit-client: every method returns the parsed body; the Response is
  // reached with Client.httpFor; a non-2xx throws with response.{status,data}.
  async 'fhir-kit-client'(who, month) {
    const c = new FhirKit({ baseUrl: base });
    checkCapabilities(who, await c.capabilityStatement());
    const measures = await c.search({ resourceType: 'Measure', searchParams: { url: MEASURE } });
    checkMeasureFound(who, (measures.entry || []).map((e) => e.resource));

    const created = await c.create({ resourceType: 'MeasureReport', body: report('Location/HealthPost1', month) });
    checkCreated(who, created);
    const res = FhirKit.httpFor(created).response;
    equal(`${who}: create status`, res.status, 201);
    const etag = res.headers.get('etag');
    equal(`${who}: create ETag`, etag, 'W/"1"');

    const id = created.id;
    const changed = { ...created, status: 'complete' };
    const updated = await c.update({ resourceType: 'MeasureReport', id, body: changed, options: { headers: { 'If-Match': etag } } });
    checkUpdated(who, updated, id);
    equal(`${who}: update status`, FhirKit.httpFor(updated).response.status, 200);
    await expectError(who, 'a stale If-Match is refused',
      () => c.update({ resourceType: 'MeasureReport', id, body: changed, options: { headers: { 'If-Match': etag } } }),
      (err) => equal(`${who}: stale If-Match status`, err.response?.status, 412));

    checkUpdated(who, await c.read({ resourceType: 'MeasureReport', id }), id);
    const found = await c.search({ resourceType: 'MeasureReport', searchParams: { subject: 'Location/HealthPost1', period: month } });
    checkFound(who, (found.entry || []).map((e) => e.resource), id);

    const again = await c.create({ resourceType: 'MeasureReport', body: report('Location/HealthPost1', month, 'complete') });
    checkCorrected(who, again, id);
    const ares = FhirKit.httpFor(again).response;
    equal(`${who}: a resend answers 200`, ares.status, 200);
    equal(`${who}: a resend's Location`, ares.headers.get('location'), `${base}/MeasureReport/${id}/_history/3`);

    checkTransaction(who, await c.transaction({ body: transactionBundle(who, month) }));
    checkValidated(who, await c.operation({ resourceType: 'MeasureReport', name: '$validate', input: invalidReport(month) }));
    await expectError(who, 'an invalid report is refused',
      () => c.create({ resourceType: 'MeasureReport', body: invalidReport(month) }),
      (err) => {
        equal(`${who}: invalid report status`, err.response?.status, 422);
        checkRefusalOutcome(who, err.response?.data);
      });
  },

  // fhirclient's FhirClient (no SMART launch): create and update return the
  // body, or { body, response } with includeResponse; a non-2xx throws an
  // HttpError whose message holds the OperationOutcome.
  async fhirclient(who, month) {
    const c = new FhirClient(base);
    checkCapabilities(who, await c.fhirRequest('metadata'));
    const measures = await c.fhirRequest(`Measure?url=${encodeURIComponent(MEASURE)}`);
    checkMeasureFound(who, (measures.entry || []).map((e) => e.resource));

    const { body: created, response: res } = await c.create(report('Location/HealthPost1', month), { includeResponse: true });
    checkCreated(who, created);
    equal(`${who}: create status`, res.status, 201);
    const etag = res.headers.get('etag');
    equal(`${who}: create ETag`, etag, 'W/"1"');

    const id = created.id;
    const changed = { ...created, status: 'complete' };
    checkUpdated(who, await c.update(changed, { headers: { 'If-Match': etag } }), id);
    await expectError(who, 'a stale If-Match is refused', () => c.update(changed, { headers: { 'If-Match': etag } }),
      (err) => equal(`${who}: stale If-Match status`, err.status, 412));

    checkUpdated(who, await c.fhirRequest(`MeasureReport/${id}`), id);
    const found = await c.fhirRequest(`MeasureReport?subject=Location/HealthPost1&period=${month}`);
    checkFound(who, (found.entry || []).map((e) => e.resource), id);

    checkCorrected(who, await c.create(report('Location/HealthPost1', month, 'complete')), id);
    // return=minimal: fhirclient fetches Location itself only after a 201;
    // after a correction's 200 it hands back the Response, whose headers
    // name the holder's new version (docs/rest.md).
    const minimal = await c.create(report('Location/HealthPost1', month, 'complete'), { headers: { prefer: 'return=minimal' } });
    equal(`${who}: a minimal resend answers the raw Response with 200`, minimal?.status, 200);
    for (const h of ['location', 'content-location']) {
      equal(`${who}: a minimal resend's ${h}`, minimal?.headers?.get(h), `${base}/MeasureReport/${id}/_history/4`);
    }
    const first = await c.create(report('Location/HealthPost2', `${month.slice(0, 4)}-12`), { headers: { prefer: 'return=minimal' } });
    check(`${who}: a minimal first create is fetched from Location (201)`,
      first?.resourceType === 'MeasureReport' && first?.meta?.versionId === '1', 'the created MeasureReport, version 1', first);

    const tx = transactionBundle(who, month);
    checkTransaction(who, await c.fhirRequest('', { method: 'POST', body: JSON.stringify(tx), headers: { 'content-type': 'application/fhir+json' } }));
    checkValidated(who, await c.fhirRequest('MeasureReport/$validate', {
      method: 'POST', body: JSON.stringify(invalidReport(month)), headers: { 'content-type': 'application/fhir+json' },
    }));
    await expectError(who, 'an invalid report is refused', () => c.create(invalidReport(month)),
      (err) => {
        equal(`${who}: invalid report error`, err.name, 'HttpError');
        equal(`${who}: invalid report status`, err.status, 422);
        const text = err.message.slice(err.message.indexOf('{'));
        let oo;
        try { oo = JSON.parse(text); } catch { oo = err.message; }
        checkRefusalOutcome(who, oo);
      });
  },

  // @medplum/core: methods return the body; a non-2xx throws an
  // OperationOutcomeError whose outcome is the server's OperationOutcome.
  async '@medplum/core'(who, month) {
    const u = new URL(base);
    const c = new MedplumClient({ baseUrl: u.origin + '/', fhirUrlPath: u.pathname.replace(/^\//, ''), cacheTime: 0 });
    checkCapabilities(who, await c.get(c.fhirUrl('metadata')));
    checkMeasureFound(who, await c.searchResources('Measure', { url: MEASURE }));

    const created = await c.createResource(report('Location/HealthPost1', month));
    checkCreated(who, created);
    const id = created.id;
    const ifMatch = `W/"${created.meta.versionId}"`;
    const changed = { ...created, status: 'complete' };
    checkUpdated(who, await c.updateResource(changed, { headers: { 'If-Match': ifMatch } }), id);
    await expectError(who, 'a stale If-Match is refused', () => c.updateResource(changed, { headers: { 'If-Match': ifMatch } }),
      (err) => {
        equal(`${who}: stale If-Match error`, err instanceof OperationOutcomeError, true);
        equal(`${who}: stale If-Match outcome`, err.outcome?.issue?.[0]?.code, 'conflict');
      });

    checkUpdated(who, await c.readResource('MeasureReport', id), id);
    checkFound(who, await c.searchResources('MeasureReport', { subject: 'Location/HealthPost1', period: month }), id);

    checkCorrected(who, await c.createResource(report('Location/HealthPost1', month, 'complete')), id);
    // Medplum follows Location on a 200 when asked to.
    const followed = await c.createResource(report('Location/HealthPost1', month, 'complete'),
      { headers: { Prefer: 'return=minimal' }, followRedirectOnOk: true });
    check(`${who}: a minimal resend, followRedirectOnOk, reads the holder`,
      followed?.id === id && followed?.meta?.versionId === '4', `MeasureReport/${id} version 4`, followed);

    checkTransaction(who, await c.executeBatch(transactionBundle(who, month)));
    checkValidated(who, await c.validateResource(invalidReport(month)));
    await expectError(who, 'an invalid report is refused', () => c.createResource(invalidReport(month)),
      (err) => {
        equal(`${who}: invalid report error`, err instanceof OperationOutcomeError, true);
        checkRefusalOutcome(who, err.outcome);
      });
  },
};

// Each client its own months, so that its first create is a create.
const months = { 'fhir-kit-client': '2025-03', fhirclient: '2025-05', '@medplum/core': '2025-07' };
for (const [who, run] of Object.entries(clients)) {
  const before = failures;
  const t0 = Date.now();
  try {
    await run(who, months[who]);
  } catch (err) {
    check(`${who}: the scenario runs to its end`, false, 'no unexpected error', `${err?.stack || err}\n${show(err?.outcome || err?.response?.data || '')}`);
  }
  console.log(`${failures === before ? 'ok  ' : 'FAIL'} ${who} (${Date.now() - t0} ms)`);
}
console.log(`${checks} checks, ${failures} failed`);
process.exit(failures ? 1 : 0);
