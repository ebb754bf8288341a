const fs = require('fs/promises');
const path = require('path');
const Mustache = require('mustache');

const TEMPLATE = path.join(__dirname, 'templates', 'template.html');

exports.handler = async function (event) {
  const begin = process.hrtime.bigint();
  // Integers in [0, 100], as SeBS's Node.js version draws them.
  const numbers = Array.from({ length: event.random_len }, () => Math.round(Math.random() * 100));
  // The template is read on every call on purpose: that is part of the work measured.
  const template = await fs.readFile(TEMPLATE, 'utf-8');
  const html = Mustache.render(template, {
    username: event.username,
    cur_time: new Date().toLocaleString(),
    random_numbers: numbers,
  });
  const computeUs = Number(process.hrtime.bigint() - begin) / 1000;
  return { result: html, measurement: { compute_time: computeUs } };
};
