const path = require('path');
const sharp = require('sharp');
const storage = require('./storage');

const client = storage.storage.get_instance();

function elapsedUs(begin) {
  return Number(process.hrtime.bigint() - begin) / 1000;
}

exports.handler = async function (event) {
  const bucket = event.bucket.bucket;
  const key = decodeURIComponent(event.object.key.replace(/\+/g, ' '));
  const { width, height } = event.object;

  const downloadBegin = process.hrtime.bigint();
  const chunks = [];
  for await (const chunk of await client.downloadStream(bucket, `${event.bucket.input}/${key}`)) chunks.push(chunk);
  const data = Buffer.concat(chunks);
  const downloadUs = elapsedUs(downloadBegin);

  // Fits the image into width x height, keeping its aspect ratio, as Pillow's thumbnail() does.
  const processBegin = process.hrtime.bigint();
  const { data: thumbnail, info } = await sharp(data)
    .resize(width, height, { fit: 'inside', withoutEnlargement: true })
    .jpeg()
    .toBuffer({ resolveWithObject: true });
  const processUs = elapsedUs(processBegin);

  const uploadBegin = process.hrtime.bigint();
  const [writable, uploaded, keyName] = client.uploadStream(bucket, `${event.bucket.output}/${path.posix.basename(key)}`);
  writable.end(thumbnail);
  await uploaded;
  const uploadUs = elapsedUs(uploadBegin);

  return {
    result: { bucket, key: keyName, width: info.width, height: info.height },
    measurement: {
      download_time: downloadUs,
      download_size: data.length,
      upload_time: uploadUs,
      upload_size: thumbnail.length,
      compute_time: processUs,
    },
  };
};
