const fs = require('fs');
const http = require('http');
const https = require('https');
const os = require('os');
const path = require('path');
const { pipeline } = require('stream/promises');
const storage = require('./storage');

const client = storage.storage.get_instance();

function elapsedUs(begin) {
  return Number(process.hrtime.bigint() - begin) / 1000;
}

// Resolves to the response once its status is known; a non-200 status is an error.
function get(url) {
  const transport = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.get(url, { headers: { 'User-Agent': 'sebs 120.uploader' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
      } else {
        resolve(res);
      }
    });
    req.setTimeout(60000, () => req.destroy(new Error(`GET ${url}: no answer in 60 s`)));
    req.on('error', reject);
  });
}

exports.handler = async function (event) {
  const bucket = event.bucket.bucket;
  const outputPrefix = event.bucket.output;
  const url = event.object.url;
  const name = path.posix.basename(new URL(url).pathname);

  const work = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'uploader-'));
  try {
    const file = path.join(work, name);
    const downloadBegin = process.hrtime.bigint();
    await pipeline(await get(url), fs.createWriteStream(file));
    const size = (await fs.promises.stat(file)).size;
    const downloadUs = elapsedUs(downloadBegin);

    const uploadBegin = process.hrtime.bigint();
    const [key, uploaded] = client.upload(bucket, `${outputPrefix}/${name}`, file);
    await uploaded;
    const uploadUs = elapsedUs(uploadBegin);

    return {
      result: { bucket, url, key },
      measurement: {
        download_time: downloadUs,
        download_size: size,
        upload_time: uploadUs,
        upload_size: size,
        compute_time: downloadUs,
      },
    };
  } finally {
    await fs.promises.rm(work, { recursive: true, force: true });
  }
};
