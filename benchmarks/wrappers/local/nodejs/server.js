'use strict';
// HTTP server of one local function instance (see docs/local-protocol.md).
//
// Started as `node server.js` in the package directory.  It binds 127.0.0.1:$SEBS_PORT, prints
// `SEBS-LISTENING <port>` and serves `POST /` (one invocation) and `GET /health`.  Invocations run
// one at a time, in arrival order, even when requests come over several connections.

const http = require('http');
const handler = require('./handler');

function send(res, status, payload, contentType) {
  const body = Buffer.from(payload);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length });
  res.end(body);
}

// Each invocation starts when the previous one has replied.
let queue = Promise.resolve();

function invoke(req, res) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    queue = queue
      .then(() => handler.handle(body, req.headers['x-request-id']))
      .catch((err) => ({ status: 500, body: JSON.stringify({ error: `${err && err.name}: ${err && err.message}` }) }))
      .then((reply) => send(res, reply.status, reply.body, 'application/json'));
  });
}

const server = http.createServer((req, res) => {
  req.on('error', () => {}); // a client that goes away must not take the server down
  const url = req.url.split('?')[0];
  if (req.method === 'POST' && url === '/') {
    invoke(req, res);
  } else {
    req.resume();
    if (req.method === 'GET' && url === '/health') send(res, 200, 'ok', 'text/plain');
    else send(res, 404, 'not found\n', 'text/plain');
  }
});

// Node closes idle keep-alive connections after 5 s and long uploads after 300 s by default; the
// platform keeps one connection per instance for as long as the instance lives.
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
server.headersTimeout = 0;

// An exception thrown from a callback of the benchmark fails the running invocation instead of
// killing the instance (or leaving the invocation waiting forever).
process.on('uncaughtException', (err) => {
  if (!handler.abort(err)) console.error('sebs wrapper: uncaught exception outside an invocation:', err);
});
// A promise the benchmark dropped (say, an upload it never awaited) is reported, not fatal.
process.on('unhandledRejection', (reason) => {
  console.error('sebs wrapper: unhandled promise rejection:', reason);
});

server.on('error', (err) => {
  console.error(`sebs wrapper: cannot listen: ${err.message}`);
  process.exit(1);
});
server.listen(Number(process.env.SEBS_PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`SEBS-LISTENING ${server.address().port}\n`);
});
