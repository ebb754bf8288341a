const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { pipeline } = require('stream/promises');
const { Readable } = require('stream');
const storage = require('./storage');

const client = storage.storage.get_instance();

function elapsedUs(begin) {
  return Number(process.hrtime.bigint() - begin) / 1000;
}

// Every file under `dir`, as paths relative to it with '/', sorted.
async function filesUnder(dir, prefix = '') {
  const found = [];
  const entries = await fs.promises.readdir(path.join(dir, prefix), { withFileTypes: true });
  for (const entry of entries) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) found.push(...(await filesUnder(dir, rel)));
    else found.push(rel);
  }
  return found.sort();
}

// A POSIX ustar header block for one regular file.
function tarHeader(name, size, mtime) {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: name longer than 100 bytes: ${name}`);
  const header = Buffer.alloc(512);
  const octal = (value, width) => value.toString(8).padStart(width - 1, '0') + '\0';
  header.write(name, 0);
  header.write(octal(0o644, 8), 100);
  header.write(octal(0, 8), 108); // uid
  header.write(octal(0, 8), 116); // gid
  header.write(octal(size, 12), 124);
  header.write(octal(mtime, 12), 136);
  header.write('        ', 148); // the checksum counts itself as spaces
  header.write('0', 156); // regular file
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(octal(sum, 7) + ' ', 148);
  return header;
}

// Yields a tar archive of `files` (relative to `root`), file by file.
async function* tarStream(root, files) {
  for (const rel of files) {
    const data = await fs.promises.readFile(path.join(root, rel));
    yield tarHeader(rel, data.length, 0);
    yield data;
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024); // two zero blocks end the archive
}

exports.handler = async function (event) {
  const bucket = event.bucket.bucket;
  const key = event.object.key;
  const work = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'compression-'));
  try {
    const downloadDir = path.join(work, 'data');
    const downloadBegin = process.hrtime.bigint();
    // The trailing '/' keeps e.g. "text-corpus2/..." out of the listing.
    const keys = await client.listDirectory(bucket, `${event.bucket.input}/${key}/`);
    if (keys.length === 0) throw new Error(`no objects under ${event.bucket.input}/${key}/ in bucket ${bucket}`);
    for (const k of keys) await client.download(bucket, k, path.join(downloadDir, k));
    const downloadUs = elapsedUs(downloadBegin);
    const files = await filesUnder(downloadDir);
    let size = 0;
    for (const rel of files) size += (await fs.promises.stat(path.join(downloadDir, rel))).size;

    const compressBegin = process.hrtime.bigint();
    const archive = path.join(work, `${key}.tar.gz`);
    await pipeline(Readable.from(tarStream(downloadDir, files)), zlib.createGzip(), fs.createWriteStream(archive));
    const compressUs = elapsedUs(compressBegin);
    const archiveSize = (await fs.promises.stat(archive)).size;

    const uploadBegin = process.hrtime.bigint();
    const [keyName, uploaded] = client.upload(bucket, `${event.bucket.output}/${key}.tar.gz`, archive);
    await uploaded;
    const uploadUs = elapsedUs(uploadBegin);

    return {
      result: { bucket, key: keyName },
      measurement: {
        download_time: downloadUs,
        download_size: size,
        upload_time: uploadUs,
        upload_size: archiveSize,
        compute_time: compressUs,
      },
    };
  } finally {
    await fs.promises.rm(work, { recursive: true, force: true });
  }
};
