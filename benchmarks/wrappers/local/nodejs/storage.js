'use strict';
// Directory-backed object storage for benchmarks on the local platform.
//
// Object KEY of bucket B is the file $SEBS_STORAGE_ROOT/B/KEY (keys may contain '/').  Several
// instances share the root, so every write goes to a temporary file in the target directory and
// is then renamed into place: readers see either the old object or the new one, never a partial one.
// `get_instance` and `unique_name` are the shared `ObjectStore`'s.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { ObjectStore, notFound } = require('../sebs_storage.js'); // the package root's shared part

const TMP_PREFIX = '.sebs-tmp-'; // temporary files are never listed as objects

class storage extends ObjectStore {
  constructor() {
    super();
    const root = process.env.SEBS_STORAGE_ROOT;
    if (!root) throw new Error('SEBS_STORAGE_ROOT is not set: the local platform did not configure storage');
    this.root = path.resolve(root);
  }

  _bucketDir(bucket) {
    if (!bucket || bucket.includes('/') || bucket === '.' || bucket === '..') {
      throw new Error(`invalid bucket name '${bucket}'`);
    }
    return path.join(this.root, bucket);
  }

  // Keys are relative paths that must stay inside the bucket's directory.
  _path(bucket, key) {
    const parts = String(key).split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..')) {
      throw new Error(`invalid object key '${key}' in bucket '${bucket}'`);
    }
    return path.join(this._bucketDir(bucket), ...parts);
  }

  async _existing(bucket, key) {
    const file = this._path(bucket, key);
    const stat = await fs.promises.stat(file).catch(() => null);
    if (!stat || !stat.isFile()) throw notFound(`object '${key}' not found in bucket '${bucket}' (no file ${file})`);
    return file;
  }

  // A fresh temporary path next to the object's final path (same directory, so rename is atomic).
  _tempFor(file) {
    return path.join(path.dirname(file), `${TMP_PREFIX}${crypto.randomBytes(8).toString('hex')}`);
  }

  async _publish(file, writeTemp) {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const tmp = this._tempFor(file);
    try {
      await writeTemp(tmp);
      await fs.promises.rename(tmp, file);
    } catch (err) {
      await fs.promises.unlink(tmp).catch(() => {});
      throw err;
    }
  }

  // Stores `data` (Buffer or string) under exactly `key`.  Wrapper-internal (the handler stores
  // logs with it); benchmarks use upload/uploadStream.
  async writeObject(bucket, key, data) {
    await this._publish(this._path(bucket, key), (tmp) => fs.promises.writeFile(tmp, data));
    return key;
  }

  // Returns [storedKey, promise]; the promise resolves when the object is stored.
  upload(bucket, key, localPath) {
    const stored = storage.unique_name(key);
    const file = this._path(bucket, stored);
    return [stored, this._publish(file, (tmp) => fs.promises.copyFile(localPath, tmp)).then(() => stored)];
  }

  // Returns [writable, promise, storedKey]; the object appears once the writable is ended.
  uploadStream(bucket, key) {
    const stored = storage.unique_name(key);
    const file = this._path(bucket, stored);
    fs.mkdirSync(path.dirname(file), { recursive: true }); // the writable is needed synchronously
    const tmp = this._tempFor(file);
    const writable = fs.createWriteStream(tmp);
    const promise = new Promise((resolve, reject) => {
      let finished = false;
      let failure = null;
      writable.on('finish', () => { finished = true; });
      writable.on('error', (err) => { failure = err; });
      writable.on('close', () => {
        if (finished && !failure) {
          fs.promises.rename(tmp, file).then(() => resolve(stored), reject);
        } else {
          fs.promises.unlink(tmp).catch(() => {});
          reject(failure || new Error(`upload stream of '${stored}' to bucket '${bucket}' closed before it ended`));
        }
      });
    });
    return [writable, promise, stored];
  }

  async download(bucket, key, localPath) {
    const file = await this._existing(bucket, key);
    await fs.promises.mkdir(path.dirname(path.resolve(localPath)), { recursive: true });
    await fs.promises.copyFile(file, localPath);
  }

  async downloadStream(bucket, key) {
    return fs.createReadStream(await this._existing(bucket, key));
  }

  // Every key of `bucket` starting with `prefix` (a string prefix, as in S3), sorted.
  async listDirectory(bucket, prefix) {
    const bucketDir = this._bucketDir(bucket);
    prefix = prefix || '';
    if (prefix.startsWith('/') || prefix.split('/').includes('..')) {
      throw new Error(`invalid prefix '${prefix}' in bucket '${bucket}'`);
    }
    const keys = [];
    const walk = async (dir) => {
      const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch((err) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return []; // nothing under this prefix
        throw err;
      });
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          await walk(full);
        } else if (!entry.name.startsWith(TMP_PREFIX)) {
          const key = path.relative(bucketDir, full).split(path.sep).join('/');
          if (key.startsWith(prefix)) keys.push(key);
        }
      }
    };
    // Only the directory holding the prefix's last component can contain matching keys.
    await walk(path.join(bucketDir, path.posix.dirname(prefix)));
    return keys.sort();
  }
}

exports.storage = storage;
