'use strict';
// The AWS Lambda entry point (`handler.handler`).
//
// The reply logic is the one every sebs wrapper shares (`sebs_handler.js`, SEBS-CONTRACT §2);
// this file only adapts Lambda's calling convention. Lambda passes the event itself (SDK
// invocations) or, through a function URL, an envelope whose `body` is the event as a JSON
// string. The reply is always {statusCode, headers, body} with the wrapper JSON as the body. The
// request id is Lambda's.

const sebs = require('./sebs_handler.js');

exports.handler = async function (event, context) {
  const reply = await sebs.handleEvent(event, context.awsRequestId);
  return { statusCode: reply.status, headers: { 'Content-Type': 'application/json' }, body: reply.body };
};
