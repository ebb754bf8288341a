'use strict';
// OpenWhisk action proxy of a sebs function (OpenWhisk's action interface, docs/actions-new.md of
// OpenWhisk): listens on 0.0.0.0:8080 (SEBS_OPENWHISK_PORT overrides it), accepts one POST /init
// and runs each POST /run through the local wrapper's handler (handler.js). See server.py of the
// Python wrapper for how parameters, the request id and failures are handled; this is the same.

const http = require('http');
const handler = require('./handler');

const END_MARKER = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
// Parameters that configure the process rather than belong to the event.
const SETTINGS = new Set(['SEBS_S3_ENDPOINT', 'SEBS_S3_ACCESS_KEY', 'SEBS_S3_SECRET_KEY', 'SEBS_S3_REGION', 'cold_start']);

function splitParams(params) {
  const event = {};
  let requestId = null;
  for (const [key, value] of Object.entries(params)) {
    if (SETTINGS.has(key)) process.env[key] = String(value);
    else if (key === 'SEBS_ENVIRONMENT' && value && typeof value === 'object') {
      for (const [name, setting] of Object.entries(value)) process.env[name] = String(setting);
    }
    else if (key === '__ow_headers' && value && typeof value === 'object') requestId = value['x-request-id'] || null;
    else if (!key.startsWith('__ow_')) event[key] = value;
  }
  return [event, requestId];
}

function send(res, status, body) {
  const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
  res.end(payload);
}

let initialized = false;

async function run(body, res) {
  const params = body && body.value;
  if (!params || typeof params !== 'object' || Array.isArray(params)) {
    send(res, 400, { error: 'a /run body has the parameters as the object `value`' });
    return;
  }
  for (const key of ['activation_id', 'action_name', 'namespace', 'deadline']) {
    if (key in body) process.env[`__OW_${key.toUpperCase()}`] = String(body[key]);
  }
  const [event, headerId] = splitParams(params);
  const reply = await handler.handle(Buffer.from(JSON.stringify(event)), headerId || body.activation_id);
  send(res, reply.status, reply.body);
  console.log(END_MARKER);
  console.error(END_MARKER);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch (err) {
      send(res, 400, { error: `the request is not JSON: ${err.message}` });
      return;
    }
    if (req.method === 'POST' && req.url === '/init') {
      if (initialized) send(res, 403, { error: 'this container is initialized already' });
      else { initialized = true; send(res, 200, { ok: true }); }
    } else if (req.method === 'POST' && req.url === '/run') {
      run(body, res).catch((err) => send(res, 500, { error: `${err && err.name}: ${err && err.message}` }));
    } else {
      send(res, 404, { error: `no route ${req.url}` });
    }
  });
});
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
server.headersTimeout = 0;

process.on('uncaughtException', (err) => {
  if (!handler.abort(err)) console.error('sebs wrapper: uncaught exception outside an activation:', err);
});
process.on('unhandledRejection', (reason) => {
  console.error('sebs wrapper: unhandled promise rejection:', reason);
});

server.listen(Number(process.env.SEBS_OPENWHISK_PORT || 8080), '0.0.0.0', () => {
  process.stdout.write(`SEBS-LISTENING ${server.address().port}\n`);
});
