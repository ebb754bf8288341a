'use strict';
// Azure Functions entry point (Node.js programming model v3): one HTTP-triggered function.
//
// The reply logic is the one every sebs wrapper shares (`sebs_handler.js`,
// docs/local-protocol.md); this file only adapts Azure's request and response. The request id is
// the invocation id Azure logs the invocation under.

const sebs = require('../sebs_handler.js');

module.exports = async function (context, req) {
  const body = req.rawBody !== undefined ? req.rawBody : JSON.stringify(req.body ?? null);
  const reply = await sebs.handle(body, context.invocationId);
  return { status: reply.status, body: reply.body, headers: { 'Content-Type': 'application/json' } };
};
