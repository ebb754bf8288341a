'use strict';
// Turns one event into the wrapper reply (SEBS-CONTRACT §2, docs/local-protocol.md): the reply
// logic of every platform's Node.js wrapper, which the others link as `sebs_handler.js`.
//
// `handle(body, requestId)` (a request body) and `handleEvent(event, requestId)` (an event the
// platform already decoded, as Lambda hands it) resolve to {status, body} and never reject: every
// failure becomes a 500 reply with a stack trace.  The benchmark (`function/function.js`) is
// required lazily, inside the begin/end window, so its first-load cost is part of the cold
// invocation's measured time.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const FUNCTION_PATH = path.join(__dirname, 'function', 'function');
const STORAGE_PATH = path.join(__dirname, 'function', 'storage');

// Epoch seconds with microsecond precision.  Date.now() has only milliseconds, so timestamps are
// the monotonic clock plus an anchor: the wall-clock time at which performance.now() was 0.  The
// anchor is kept across invocations (so consecutive invocations never appear to overlap) and is
// only reset, at the start of an invocation, when the wall clock has moved away from it (an NTP
// step or long drift).
let anchor = performance.timeOrigin;

function invocationClock() {
  const drift = anchor + performance.now() - Date.now(); // in [0, 1) ms while in step
  if (drift < -1 || drift > 2) anchor = Date.now() - performance.now();
  const base = anchor;
  return () => Math.round((base + performance.now()) * 1000) / 1e6;
}

// Returns [isCold, containerId].  Without $TMPDIR/cold_run this is a cold start; with `mark` the
// marker is then written with a new container id.  A request rejected before the benchmark ran
// does not mark the instance, so the next real invocation is still reported as cold.
function coldStart(mark) {
  const marker = path.join(process.env.TMPDIR || '/tmp', 'cold_run');
  try {
    return [false, fs.readFileSync(marker, 'utf8').trim()];
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  if (!mark) return [true, ''];
  const containerId = crypto.randomBytes(4).toString('hex');
  fs.writeFileSync(marker, containerId);
  return [true, containerId];
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function unwrap(event) {
  if (isObject(event) && typeof event.body === 'string') { // an HTTP gateway envelope
    event = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body);
  }
  if (!isObject(event)) {
    throw new TypeError(`the event must be a JSON object, got ${Array.isArray(event) ? 'array' : typeof event}`);
  }
  return event;
}

// Set while an invocation runs: lets the server fail it when the benchmark throws from a callback.
let abortCurrent = null;

function abort(err) {
  if (!abortCurrent) return false;
  abortCurrent(err);
  return true;
}

async function runFunction(event) {
  const aborted = new Promise((_, reject) => { abortCurrent = reject; });
  try {
    const fn = require(FUNCTION_PATH);
    return await Promise.race([fn.handler(event), aborted]);
  } finally {
    abortCurrent = null;
  }
}

// Stores the result as `<request-id>.json` in `bucket`; resolves to the time taken in µs.
async function uploadLogs(bucket, requestId, result) {
  const storage = require(STORAGE_PATH); // after the window: not part of the benchmark's time
  const log = isObject(result)
    ? { output: result.result, measurement: result.measurement }
    : { output: result, measurement: null };
  const began = performance.now();
  await storage.storage.get_instance().writeObject(bucket, `${requestId}.json`, JSON.stringify(log));
  return Math.round((performance.now() - began) * 1000);
}

function toJson(reply) {
  try {
    return JSON.stringify(reply);
  } catch (err) {
    throw new TypeError(`the handler's result cannot be sent as JSON: ${err.message}`);
  }
}

function describe(err) {
  if (err instanceof Error) return [`${err.constructor.name || err.name}: ${err.message}`, err.stack || String(err)];
  let text;
  try { text = String(err); } catch (_) { text = '<unprintable>'; }
  return [`${typeof err}: ${text}`, `a non-Error value was thrown: ${text}`]; // e.g. `throw 'oops'`
}

function errorReply(err, requestId, mark) {
  const [isCold, containerId] = coldStart(mark);
  const [error, traceback] = describe(err);
  const body = JSON.stringify({ error, traceback, request_id: requestId, is_cold: isCold, container_id: containerId });
  return { status: 500, body };
}

// One invocation of a request body.
function handle(body, requestId) {
  return invoke(() => JSON.parse(body.toString('utf8') || 'null'), requestId);
}

// One invocation of an event already decoded from JSON (or an HTTP gateway's envelope of one).
function handleEvent(event, requestId) {
  return invoke(() => event, requestId);
}

async function invoke(decode, requestId) {
  const now = invocationClock();
  const income = now();
  requestId = requestId || crypto.randomUUID();
  let event;
  try {
    event = unwrap(decode());
  } catch (err) {
    return errorReply(err, requestId, false);
  }

  event['request-id'] = requestId;
  event['income-timestamp'] = income;
  try {
    const begin = now();
    const result = await runFunction(event);
    const end = now();
    const [isCold, containerId] = coldStart(true);

    let resultsTime = 0;
    if (isObject(event.logs) && event.logs.bucket) resultsTime = await uploadLogs(event.logs.bucket, requestId, result);

    return {
      status: 200,
      body: toJson({
        begin,
        end,
        results_time: resultsTime,
        is_cold: isCold,
        result: result === undefined ? null : result,
        request_id: requestId,
        cold_start_var: process.env.cold_start || '',
        container_id: containerId,
      }),
    };
  } catch (err) {
    return errorReply(err, requestId, true);
  }
}

module.exports = { handle, handleEvent, abort };
