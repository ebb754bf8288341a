const { setTimeout: sleepMs } = require('timers/promises');

exports.handler = async function (event) {
  const sleep = event.sleep;
  const begin = process.hrtime.bigint();
  await sleepMs(sleep * 1000);
  const sleptUs = Number(process.hrtime.bigint() - begin) / 1000;
  // `result` is the requested time, as in SeBS; the measured time lets the
  // caller check that the sleep really happened.
  return { result: sleep, measurement: { compute_time: sleptUs } };
};
