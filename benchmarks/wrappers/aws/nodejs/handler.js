'use strict';
// The AWS Lambda entry point (`handler.handler`): SEBS-CONTRACT §2 around the benchmark.
//
// Lambda passes the event itself (SDK invocations) or, through a function URL, an envelope whose
// `body` is the event as a JSON string. The reply is always {statusCode, headers, body} with the
// wrapper JSON as the body; a failing benchmark gives a 500 reply with its stack trace.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const FUNCTION_PATH = path.join(__dirname, 'function', 'function');
const STORAGE_PATH = path.join(__dirname, 'function', 'storage');
// $TMPDIR is unset on Lambda (so /tmp); tests give each run a private one.
const COLD_MARKER = path.join(process.env.TMPDIR || '/tmp', 'cold_run');

// Epoch seconds with microsecond precision: the monotonic clock from a wall-clock anchor.
function now() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000) / 1e6;
}

// [isCold, containerId]: the marker in /tmp lives exactly as long as the instance.
function coldStart(mark) {
  try {
    return [false, fs.readFileSync(COLD_MARKER, 'utf8').trim()];
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  if (!mark) return [true, ''];
  const containerId = crypto.randomBytes(4).toString('hex');
  fs.writeFileSync(COLD_MARKER, containerId);
  return [true, containerId];
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function eventOf(event) {
  if (isObject(event) && typeof event.body === 'string') {
    const body = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
    event = JSON.parse(body);
  }
  if (!isObject(event)) {
    throw new TypeError(`the event must be a JSON object, got ${Array.isArray(event) ? 'array' : typeof event}`);
  }
  return event;
}

function reply(statusCode, payload) {
  return { statusCode, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload) };
}

function errorReply(err, requestId, mark) {
  const [isCold, containerId] = coldStart(mark);
  const message = err instanceof Error ? `${err.constructor.name || err.name}: ${err.message}` : `${typeof err}: ${String(err)}`;
  const trace = err instanceof Error ? err.stack || message : message;
  return reply(500, { error: message, traceback: trace, request_id: requestId, is_cold: isCold, container_id: containerId });
}

// Stores the result as `<request-id>.json` in `bucket`; resolves to the time taken in µs.
async function uploadLogs(bucket, requestId, result) {
  const storage = require(STORAGE_PATH); // after the window: not part of the benchmark's time
  const log = isObject(result) ? { output: result.result, measurement: result.measurement } : { output: result, measurement: null };
  const began = performance.now();
  await storage.storage.get_instance().writeObject(bucket, `${requestId}.json`, JSON.stringify(log));
  return Math.round((performance.now() - began) * 1000);
}

exports.handler = async function (event, context) {
  const income = now();
  const requestId = context.awsRequestId;
  try {
    event = eventOf(event);
  } catch (err) {
    return errorReply(err, requestId, false);
  }
  event['request-id'] = requestId;
  event['income-timestamp'] = income;
  try {
    const begin = now();
    const result = await require(FUNCTION_PATH).handler(event);
    const end = now();
    const [isCold, containerId] = coldStart(true);
    let resultsTime = 0;
    if (isObject(event.logs) && event.logs.bucket) resultsTime = await uploadLogs(event.logs.bucket, requestId, result);
    return reply(200, {
      begin,
      end,
      results_time: resultsTime,
      is_cold: isCold,
      result: result === undefined ? null : result,
      request_id: requestId,
      cold_start_var: process.env.cold_start || '',
      container_id: containerId,
    });
  } catch (err) {
    return errorReply(err, requestId, true);
  }
};
