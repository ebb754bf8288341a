'use strict';
// What every platform's storage module shares: SeBS's storage API for benchmarks on top of
// three primitives each platform implements (writeObject, readObject, listDirectory).
//
// It sits at the package root; `function/storage.js` extends `ObjectStore` as `storage`.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { PassThrough, Readable } = require('stream');

class ObjectStore {
  static get_instance() {
    if (!Object.prototype.hasOwnProperty.call(this, 'instance')) this.instance = new this();
    return this.instance;
  }

  // `dir/name.ext` -> `dir/name.<8 hex chars>.ext`, as SeBS names uploaded objects.
  static unique_name(name) {
    const ext = path.posix.extname(name);
    return `${name.slice(0, name.length - ext.length)}.${crypto.randomBytes(4).toString('hex')}${ext}`;
  }

  // Returns [storedKey, promise]; the promise resolves when the object is stored.
  upload(bucket, key, localPath) {
    const stored = ObjectStore.unique_name(key);
    return [stored, fs.promises.readFile(localPath).then((data) => this.writeObject(bucket, stored, data))];
  }

  // Returns [writable, promise, storedKey]; the object is stored once the writable is ended.
  uploadStream(bucket, key) {
    const stored = ObjectStore.unique_name(key);
    const writable = new PassThrough();
    const chunks = [];
    writable.on('data', (chunk) => chunks.push(chunk));
    const promise = new Promise((resolve, reject) => {
      writable.on('end', () => this.writeObject(bucket, stored, Buffer.concat(chunks)).then(resolve, reject));
      writable.on('error', reject);
    });
    return [writable, promise, stored];
  }

  async download(bucket, key, localPath) {
    const data = await this.readObject(bucket, key);
    await fs.promises.mkdir(path.dirname(path.resolve(localPath)), { recursive: true });
    await fs.promises.writeFile(localPath, data);
  }

  async downloadStream(bucket, key) {
    return Readable.from([await this.readObject(bucket, key)]);
  }
}

// An error whose code says the object does not exist, as the local platform's storage throws.
function notFound(message) {
  const err = new Error(message);
  err.code = 'ENOENT';
  return err;
}

module.exports = { ObjectStore, notFound };
