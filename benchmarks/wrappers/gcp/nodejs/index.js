'use strict';
// Cloud Functions entry point (Node.js, Functions Framework): `handler(req, res)`.
//
// The reply logic is the one every sebs wrapper shares (`sebs_handler.js`,
// docs/local-protocol.md). The request id is Cloud Functions' execution id.

const sebs = require('./sebs_handler.js');

exports.handler = async (req, res) => {
  const body = req.rawBody !== undefined ? req.rawBody : JSON.stringify(req.body ?? null);
  const reply = await sebs.handle(body, req.get('Function-Execution-Id') || undefined);
  res.status(reply.status).set('Content-Type', 'application/json').send(reply.body);
};
